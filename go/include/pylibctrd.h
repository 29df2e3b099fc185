/* pylibctrd: the C ABI over Moby's libcontainerd.
 *
 * Included by cgo (go/capi) and by cffi (build_ffi.py, which also writes the
 * typed Python stubs from it), so every side sees the same declarations.
 * This file is the one table of error classes and signatures.
 *
 * Conventions:
 *  - every function takes its result struct first and returns a status:
 *    0 on success, else an error class below, with the message in `data`;
 *  - objects are uint64 handles; unknown or released handles are an error
 *    (INVALID_HANDLE), never a crash;
 *  - the wire format, one per kind of result:
 *      number  `number`: a handle, a pid, a byte count;
 *      text    `data`: UTF-8; several fields separated by NUL (version:
 *              "<version>\0<revision>"; status: "running");
 *      record  `data`: JSON, for values with nested or optional parts (exit
 *              status, stats, pids, containers, events, specs);
 *    `data` is allocated by Go with malloc and freed with libc's free (or
 *    pylibctrd_free, which calls it from Go);
 *  - arguments: text as NUL-terminated UTF-8; JSON and bytes as pointer and
 *    length, read only during the call. Calls that hand a process's stdio to
 *    a callback take its token right after `out` (0: no callback, output is
 *    drained and stdin closed).
 */
#ifndef PYLIBCTRD_H
#define PYLIBCTRD_H
#include <stddef.h>
#include <stdint.h>

enum pylibctrd_status {
    PYLIBCTRD_OK = 0,
    PYLIBCTRD_UNKNOWN = 1,
    PYLIBCTRD_NOT_FOUND = 2,
    PYLIBCTRD_CONFLICT = 3,
    PYLIBCTRD_ALREADY_EXISTS = 4,
    PYLIBCTRD_INVALID_PARAMETER = 5,
    PYLIBCTRD_FAILED_PRECONDITION = 6,
    PYLIBCTRD_UNAVAILABLE = 7,
    PYLIBCTRD_DEADLINE = 8,
    PYLIBCTRD_CANCELED = 9,
    PYLIBCTRD_NOT_IMPLEMENTED = 10,
    PYLIBCTRD_SYSTEM = 11,
    PYLIBCTRD_FORBIDDEN = 12,
    PYLIBCTRD_INVALID_HANDLE = 13,
    PYLIBCTRD_CLOSED = 14,
    PYLIBCTRD_PANIC = 15,
    /* Not an error: the call runs in the background (see pylibctrd_result). */
    PYLIBCTRD_PENDING = 16,
    /* Moby's errdefs Unauthorized: a registry refused the credentials (or
     * wanted some). */
    PYLIBCTRD_UNAUTHORIZED = 17
};

typedef struct pylibctrd_result {
    uint64_t number;
    char *data;
    size_t len;
    /* In, never written by Go: with both non-zero, the export checks and
     * copies its arguments, starts the call in the background on port `port`
     * as call `call`, and returns PYLIBCTRD_PENDING (or an error at once).
     * The outcome comes back from pylibctrd_port_take. Exports marked
     * "now only" refuse this. */
    uint64_t port;
    uint64_t call;
    /* In, never written by Go: PYLIBCTRD_INTERRUPTIBLE makes a SIGINT
     * cancel the call (Python sets it on its main thread's calls). */
    uint32_t flags;
} pylibctrd_result;

enum pylibctrd_flags {
    PYLIBCTRD_INTERRUPTIBLE = 1
};

/* pylibctrd_port_take packs background calls' outcomes (the status and
 * result the export would have returned) into one `data` buffer, one record
 * after another, each 8-byte aligned, in native byte order:
 *     uint64 call; uint64 number; int64 status; uint64 len;
 *     len bytes of data (len PYLIBCTRD_NO_DATA: no data, none follow),
 *     padded with zeros to a multiple of 8.
 * One buffer (one allocation, one crossing) serves a whole batch. */
#define PYLIBCTRD_NO_DATA 0xffffffffffffffffULL

/* Callbacks into Python. Return 0, or non-zero with a message in err. */
typedef int (*pylibctrd_event_fn)(uint64_t events_key, char *json, size_t len, char *err, size_t errlen);
typedef int (*pylibctrd_stdio_fn)(uint64_t token, uint64_t stdin_h, uint64_t stdout_h, uint64_t stderr_h, char *err, size_t errlen);
typedef void (*pylibctrd_log_fn)(int level, char *msg, size_t len);

void pylibctrd_free(void *p);

/* Library */
int pylibctrd_init(pylibctrd_result *out, pylibctrd_event_fn on_event, pylibctrd_stdio_fn on_stdio, pylibctrd_log_fn on_log, int log_level);
int pylibctrd_shutdown(pylibctrd_result *out, int64_t timeout_ms);
int pylibctrd_set_log_level(pylibctrd_result *out, int level);
int pylibctrd_release(pylibctrd_result *out, uint64_t handle);
int pylibctrd_live_handles(pylibctrd_result *out);
int pylibctrd_goroutines(pylibctrd_result *out);
/* text: every goroutine's stack as runtime.Stack(all) prints them, but the caller's. */
int pylibctrd_goroutine_stacks(pylibctrd_result *out);
int pylibctrd_nop(pylibctrd_result *out);
int pylibctrd_echo(pylibctrd_result *out, char *data, size_t len);
int pylibctrd_default_spec(pylibctrd_result *out);
int pylibctrd_panic_for_test(pylibctrd_result *out);
/* number: ms, after sleeping ms milliseconds; CANCELED if cancelled first
 * (for tests of background calls). */
int pylibctrd_sleep_for_test(pylibctrd_result *out, uint64_t ms);
/* record: {"go", "moby", "containerd"}, from the library's Go build info. */
int pylibctrd_versions(pylibctrd_result *out);

/* Completion ports: background calls completed through one eventfd. */
int pylibctrd_port_open(pylibctrd_result *out);
/* number: the eventfd, readable while completions wait; read it (8 bytes)
 * before draining with pylibctrd_port_take. */
int pylibctrd_port_fd(pylibctrd_result *out, uint64_t port);
/* Takes up to max waiting completions, oldest first; number: how many;
 * data: their records (see PYLIBCTRD_NO_DATA above). */
int pylibctrd_port_take(pylibctrd_result *out, uint64_t port, size_t max);
/* Cancels the call's context and abandons it: what it makes is released and
 * no completion comes back. number: 1 if it was in flight, 0 if it had
 * already completed (its completion is then still delivered). */
int pylibctrd_port_cancel(pylibctrd_result *out, uint64_t port, uint64_t call);
/* number, data: a ring's completions not yet taken (records as
 * pylibctrd_port_take's), for the caller to release what they made. */
int pylibctrd_port_close(pylibctrd_result *out, uint64_t port);

/* A port's submission ring: calls that take one handle (the exports listed
 * by pylibctrd_port_ring) are queued without entering Go, and the port's
 * dispatcher goroutine starts them as if they had been called with `port`
 * and `call` set; a call it refuses completes with that error. The ring is
 * made on the first pylibctrd_port_ring and freed by pylibctrd_port_close:
 * it must not be used after. The ring's port delivers its completions
 * through pylibctrd_ring_take from then on. */
typedef struct pylibctrd_ring pylibctrd_ring;
/* number: the ring's address (a pylibctrd_ring *); text: the names of the
 * exports pylibctrd_ring_submit takes, its `index` being their position. */
int pylibctrd_port_ring(pylibctrd_result *out, uint64_t port);
/* Plain C, never enters Go: queues call `call` of export `index` with
 * argument `arg`. Returns 0, CLOSED once the port is closed, or SYSTEM when
 * out of memory. Queued calls start after the next pylibctrd_ring_kick. */
int pylibctrd_ring_submit(pylibctrd_ring *ring, uint64_t call, uint32_t index, uint64_t arg);
/* Plain C: wakes the dispatcher if it sleeps and calls are queued (one
 * eventfd write for a batch of submissions). 0, or CLOSED. */
int pylibctrd_ring_kick(pylibctrd_ring *ring);
/* Plain C: takes every waiting completion of the ring's port, as
 * pylibctrd_port_take does; once a port has a ring, its completions come
 * only from here (and those still waiting at close from
 * pylibctrd_port_close). */
int pylibctrd_ring_take(pylibctrd_result *out, pylibctrd_ring *ring);

/* Daemon (Moby's libcontainerd/supervisor) */
/* number: the daemon handle; data: its socket address (text). containerd:
 * the binary to run, "" for the one on PATH (its containerd-shim-runc-v2
 * beside it is put first on PATH too; core/daemon.go). */
int pylibctrd_daemon_start(pylibctrd_result *out, char *root_dir, char *state_dir, char *log_level, char *containerd);
int pylibctrd_daemon_stop(pylibctrd_result *out, uint64_t daemon, int64_t timeout_ms);

/* Client */
/* events_key: 0 for no Backend, else the key passed back to on_event (chosen
 * by Python before connecting, so no event can arrive before it is known). */
int pylibctrd_client_connect(pylibctrd_result *out, char *address, char *ns, char *state_dir, uint64_t events_key, int64_t timeout_ms);
int pylibctrd_client_close(pylibctrd_result *out, uint64_t client, int wait);
int pylibctrd_client_version(pylibctrd_result *out, uint64_t client);
/* [{"id", "labels", "image", "runtime", "created_at"}] from containerd's records. */
int pylibctrd_client_list_containers(pylibctrd_result *out, uint64_t client);
int pylibctrd_client_load_container(pylibctrd_result *out, uint64_t client, char *id);
int pylibctrd_client_new_container(pylibctrd_result *out, uint64_t client, char *id, char *spec, size_t spec_len, char *shim, char *runtime_options, size_t runtime_options_len, char *labels, size_t labels_len, int replace);

/* Images: Moby's containerd image service (daemon/containerd), in the
 * client's namespace. An image record is {"name", "digest", "size", "config"}.
 * import_image reads the archive from path, or (path NULL) from fd, which Go
 * takes over and closes; name "" or a tag for the archive's untagged image.
 * data: [record] (import_image, images), record (get_image), the mount
 * point as text (prepare_rootfs). */
int pylibctrd_client_import_image(pylibctrd_result *out, uint64_t client, char *path, int fd, char *name);
int pylibctrd_client_images(pylibctrd_result *out, uint64_t client);
int pylibctrd_client_get_image(pylibctrd_result *out, uint64_t client, char *ref);
int pylibctrd_client_remove_image(pylibctrd_result *out, uint64_t client, char *ref);
int pylibctrd_client_prepare_rootfs(pylibctrd_result *out, uint64_t client, char *id, char *ref);
int pylibctrd_client_release_rootfs(pylibctrd_result *out, uint64_t client, char *id);

/* Registries (core/registry.go): Moby's PullImage, PushImage, TagImage,
 * ExportImage and registry service; the docker CLI's config package for
 * credentials (config_dir: the $DOCKER_CONFIG dir; "" for the CLI's default).
 * options: JSON of dockerd's daemon.json registry keys ("insecure-registries",
 * "registry-mirrors", "allow-nondistributable-artifacts") plus "certs-dir".
 * auth: JSON of Moby's AuthConfig ({"username", "password", "serveraddress",
 * "identitytoken", "registrytoken"}), or length 0 for none. progress_key: 0,
 * or a key (from the same counter as events keys) passed to on_event with
 * each progress record {"id", "action", "current", "total"}; a non-zero
 * return from on_event cancels the call and becomes its error.
 * data: the image record (pull), the pushed digest as text (push), the
 * registry's status as text (login), auth JSON (registry_auth), the config
 * key of ref's registry as text (registry_of). save writes the tar to path
 * (through a temporary file, renamed when complete) or, path NULL, to fd,
 * which Go takes over and closes; refs is a JSON list. logout: number 1 if
 * there were credentials to remove. */
int pylibctrd_client_configure_registry(pylibctrd_result *out, uint64_t client, char *options, size_t options_len);
int pylibctrd_client_pull(pylibctrd_result *out, uint64_t progress_key, uint64_t client, char *ref, char *platform, char *auth, size_t auth_len);
int pylibctrd_client_push(pylibctrd_result *out, uint64_t progress_key, uint64_t client, char *ref, char *auth, size_t auth_len);
int pylibctrd_client_tag(pylibctrd_result *out, uint64_t client, char *source, char *target);
int pylibctrd_client_save(pylibctrd_result *out, uint64_t client, char *refs, size_t refs_len, char *path, int fd);
int pylibctrd_client_login(pylibctrd_result *out, uint64_t client, char *auth, size_t auth_len, char *config_dir);
int pylibctrd_registry_logout(pylibctrd_result *out, char *server, char *config_dir);
int pylibctrd_registry_auth(pylibctrd_result *out, char *server, char *config_dir);
int pylibctrd_registry_of(pylibctrd_result *out, char *ref);

/* Networks through CNI (go-cni, the standard plugins), state in
 * <state_dir>-network. A network record is {"name", "subnet", "gateway",
 * "internal", "labels", "bridge"}; an endpoint {"network", "interface", "ip",
 * "gateway", "mac", "ports": [{"host_ip", "host_port", "container_port",
 * "proto"}], "aliases"}. subnet and gateway "" to pick them; labels, ports
 * and aliases JSON (an object, lists of strings; length 0: none); ports in
 * docker's -p syntax. A container is set up on a network by new_container
 * when its spec has the annotation "org.pylibctrd.network" (a JSON request:
 * {"network", "ports", "aliases", "ip", "hostname", "dns", "dns_search",
 * "dns_options", "extra_hosts"}), and torn down by container_delete.
 * data: record (create_network), [record] (networks), endpoint
 * (connect_network), [endpoint] (endpoints), [container id]
 * (cleanup_networks: the setups torn down because containerd has no such
 * container). */
int pylibctrd_client_create_network(pylibctrd_result *out, uint64_t client, char *name, char *subnet, char *gateway, int internal, char *labels, size_t labels_len);
int pylibctrd_client_networks(pylibctrd_result *out, uint64_t client);
int pylibctrd_client_remove_network(pylibctrd_result *out, uint64_t client, char *name);
int pylibctrd_client_connect_network(pylibctrd_result *out, uint64_t client, char *id, char *network, char *ports, size_t ports_len, char *aliases, size_t aliases_len, char *ip);
int pylibctrd_client_disconnect_network(pylibctrd_result *out, uint64_t client, char *id, char *network);
int pylibctrd_client_endpoints(pylibctrd_result *out, uint64_t client, char *id);
int pylibctrd_client_cleanup_networks(pylibctrd_result *out, uint64_t client);

/* Container */
int pylibctrd_container_new_task(pylibctrd_result *out, uint64_t stdio_token, uint64_t container, char *checkpoint_dir, int with_stdin);
int pylibctrd_container_task(pylibctrd_result *out, uint64_t container);
int pylibctrd_container_attach_task(pylibctrd_result *out, uint64_t stdio_token, uint64_t container);
int pylibctrd_container_delete(pylibctrd_result *out, uint64_t container);

/* Process: a Task or an exec'd Process */
int pylibctrd_process_pid(pylibctrd_result *out, uint64_t process);
int pylibctrd_process_kill(pylibctrd_result *out, uint64_t process, int signal);
int pylibctrd_process_resize(pylibctrd_result *out, uint64_t process, uint32_t width, uint32_t height);
int pylibctrd_process_delete(pylibctrd_result *out, uint64_t process);

/* Task */
int pylibctrd_task_start(pylibctrd_result *out, uint64_t task);
int pylibctrd_task_pause(pylibctrd_result *out, uint64_t task);
int pylibctrd_task_resume(pylibctrd_result *out, uint64_t task);
int pylibctrd_task_force_delete(pylibctrd_result *out, uint64_t task);
int pylibctrd_task_status(pylibctrd_result *out, uint64_t task);
int pylibctrd_task_stats(pylibctrd_result *out, uint64_t task);
int pylibctrd_task_pids(pylibctrd_result *out, uint64_t task);
int pylibctrd_task_summary(pylibctrd_result *out, uint64_t task);
int pylibctrd_task_exec(pylibctrd_result *out, uint64_t stdio_token, uint64_t task, char *process_id, char *spec, size_t spec_len, int with_stdin);
int pylibctrd_task_update_resources(pylibctrd_result *out, uint64_t task, char *resources, size_t len);
int pylibctrd_task_create_checkpoint(pylibctrd_result *out, uint64_t task, char *dir, int exit);

/* Stdio streams handed to attach callbacks */
/* Now only: reads into buf; number: bytes read (0: end of stream). */
int pylibctrd_stream_read(pylibctrd_result *out, uint64_t stream, char *buf, size_t len);
/* data: up to max bytes read (none: end of stream). */
int pylibctrd_stream_recv(pylibctrd_result *out, uint64_t stream, size_t max);
int pylibctrd_stream_write(pylibctrd_result *out, uint64_t stream, char *buf, size_t len);
int pylibctrd_stream_close(pylibctrd_result *out, uint64_t stream);

/* Native capture (stdio.Capture): Go drains stdout and stderr (either may be
   0) into memory; the streams pass to it. number: the capture's handle. */
int pylibctrd_capture_start(pylibctrd_result *out, uint64_t stdout_stream, uint64_t stderr_stream);
/* number: 1 once every stream ended, 0 if timeout_ms (< 0: none) passed first. */
int pylibctrd_capture_wait(pylibctrd_result *out, uint64_t capture, int64_t timeout_ms);
/* data: what stream 0 (stdout) or 1 (stderr) gave so far. */
int pylibctrd_capture_output(pylibctrd_result *out, uint64_t capture, int stream);

/* Diagnosis only (benchmarks/exec_timeline.py): a Go execution trace
   (runtime/trace) of the library, written to path until trace_stop. */
int pylibctrd_trace_start(pylibctrd_result *out, char *path);
int pylibctrd_trace_stop(pylibctrd_result *out);

/* Mounts and volumes (docker run -v/--mount/--tmpfs/--read-only).
 * spec_apply_mounts: the spec (JSON) with `mounts` laid in as dockerd does,
 * each parsed by Moby's volume/mounts parser: a JSON list of `-v` strings,
 * docker API mount objects, or {"Tmpfs": "dest[:data]"}. data: the spec.
 * Named volumes stay mounts of type "volume" until new_container creates
 * them (Moby's local driver, under <state_dir>-images/volumes) and binds
 * them. A volume record is {"name", "driver", "mountpoint", "created_at",
 * "labels"}; data: record (create_volume), [record] (volumes). name "":
 * an anonymous volume. */
int pylibctrd_spec_apply_mounts(pylibctrd_result *out, char *spec, size_t spec_len, char *mounts, size_t mounts_len, int read_only);
int pylibctrd_client_create_volume(pylibctrd_result *out, uint64_t client, char *name, char *labels, size_t labels_len);
int pylibctrd_client_volumes(pylibctrd_result *out, uint64_t client);
int pylibctrd_client_remove_volume(pylibctrd_result *out, uint64_t client, char *name);

/* Logs through Moby's log drivers (json-file, local).
 * Now only: log_start takes the stdout and stderr streams (either may be 0)
 * and copies them into container id's logger (Moby's logger.Copier);
 * driver options as a JSON object of strings. With tee, each stream is also
 * copied into a pipe whose read end the caller takes over. number: the
 * log's handle; data: text "<stdout fd>\0<stderr fd>" (-1: none). */
int pylibctrd_log_start(pylibctrd_result *out, uint64_t client, char *container_id, char *driver, char *opts, size_t opts_len, uint64_t stdout_stream, uint64_t stderr_stream, int tee);
/* number: 1 once both streams ended and the logger closed, 0 if timeout_ms (< 0: none) passed first. */
int pylibctrd_log_wait(pylibctrd_result *out, uint64_t log, int64_t timeout_ms);
/* What the driver failed to write so far (a full disk...; Moby's copier logs
 * each failure, rate-limited, and goes on). data: {"count", "last_error",
 * "last_at"} (Unix ns, null before the first failure). */
int pylibctrd_log_failures(pylibctrd_result *out, uint64_t log);
/* docker logs: number: a log reader's handle. since/until: Unix ns (0: none); tail < 0: all. */
int pylibctrd_client_logs(pylibctrd_result *out, uint64_t client, char *container_id, int follow, int64_t since_ns, int64_t until_ns, int64_t tail, int stdout_stream, int stderr_stream);
/* data: records of 1 byte stream (1 stdout, 2 stderr), 8 bytes time (Unix
 * ns), 4 bytes length (both little-endian), the line; about max bytes at
 * most, none if timeout_ms (< 0: none) passed first. number: 1 once the
 * log ended. */
int pylibctrd_logs_next(pylibctrd_result *out, uint64_t reader, size_t max, int64_t timeout_ms);
int pylibctrd_logs_close(pylibctrd_result *out, uint64_t reader);

/* Health checks of a task this client runs, with dockerd's semantics (each
 * probe an exec). config: docker's HealthConfig as JSON ({"Test",
 * "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"},
 * durations in ns). task_health data: {"status", "failing_streak", "log":
 * [{"start", "end", "exit_code", "output"}]} (the last 5 results);
 * NOT_FOUND when the client does not probe the container. */
int pylibctrd_task_start_health(pylibctrd_result *out, uint64_t task, char *config, size_t len);
int pylibctrd_task_stop_health(pylibctrd_result *out, uint64_t task);
int pylibctrd_task_health(pylibctrd_result *out, uint64_t task);
/* Waits until the task's health has more than `after` results recorded, or
 * probing ended, or timeout_ms (< 0: none) passed. data: {"seq" (results
 * so far), "ended", "health" (as task_health), "docker" (Moby's
 * types.Health JSON, docker inspect's State.Health), "events": [{"seq",
 * "action" ("health_status: healthy"), "status", "time" (Unix ns)}]: the
 * status changes after `after`, dockerd's health_status events (the last
 * 16 kept)}. NOT_FOUND as task_health. */
int pylibctrd_task_watch_health(pylibctrd_result *out, uint64_t task, uint64_t after, int64_t timeout_ms);
/* docker run's health check: flags, a JSON list of its health flags as
 * command-line items ("--health-interval=1s", "--no-healthcheck"), parsed
 * as the docker CLI does (pflag; INVALID_PARAMETER with its messages) and
 * merged over image (the image's Healthcheck as JSON; empty: none) as
 * dockerd does. data: the HealthConfig as JSON, or null when no check runs. */
int pylibctrd_run_healthcheck(pylibctrd_result *out, char *flags, size_t flags_len, char *image, size_t image_len);
/* docker ps' STATUS, Moby's container.State.String(), for {"running",
 * "paused", "restarting", "started_at", "finished_at" (Unix ns, 0: none),
 * "exit_code", "health" ("" for none)}. data: the text. */
int pylibctrd_state_text(pylibctrd_result *out, char *state, size_t len);

/* Restart policies (docker run --restart) with Moby's restartmanager.
 * restart_policy_parse: --restart's text checked as docker does; data:
 * {"Name", "MaximumRetryCount"}. restart_manager_new: policy as that JSON,
 * restart_count restarts already made; number: the manager's handle.
 * should_restart: Moby's decision after an exit (ran_ns: how long the task
 * ran); number 1: restart once restart_manager_wait answers 1 (the backoff
 * passed), 0 if timeout_ms (< 0: none) passed first; CANCELED once
 * restart_manager_cancel was called (no restart). */
int pylibctrd_restart_policy_parse(pylibctrd_result *out, char *text);
int pylibctrd_restart_manager_new(pylibctrd_result *out, char *policy, size_t len, int64_t restart_count);
int pylibctrd_restart_manager_should_restart(pylibctrd_result *out, uint64_t manager, uint32_t exit_code, int manually_stopped, int64_t ran_ns);
int pylibctrd_restart_manager_wait(pylibctrd_result *out, uint64_t manager, int64_t timeout_ms);
int pylibctrd_restart_manager_cancel(pylibctrd_result *out, uint64_t manager);

#endif
