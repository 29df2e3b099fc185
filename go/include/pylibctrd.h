/* pylibctrd: the C ABI over Moby's libcontainerd.
 *
 * Included by cgo (go/capi) and by cffi (build_ffi.py), so both sides see the
 * same declarations. Conventions:
 *  - every function returns a status: 0 on success, else an error class below;
 *  - results come back in *out: `number` (a new handle, a pid, a byte count)
 *    and `data`/`len` (JSON, text or, on error, the message). `data` is
 *    allocated by Go and must be freed with pylibctrd_free;
 *  - objects are uint64 handles; unknown or released handles are an error.
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
    PYLIBCTRD_PANIC = 15
};

typedef struct pylibctrd_result {
    uint64_t number;
    char *data;
    size_t len;
} pylibctrd_result;

/* Callbacks into Python. Return 0, or non-zero with a message in err. */
typedef int (*pylibctrd_event_fn)(uint64_t events_key, char *json, size_t len, char *err, size_t errlen);
typedef int (*pylibctrd_stdio_fn)(uint64_t token, uint64_t stdin_h, uint64_t stdout_h, uint64_t stderr_h, char *err, size_t errlen);
typedef void (*pylibctrd_log_fn)(int level, char *msg, size_t len);

void pylibctrd_free(void *p);

/* Library */
int pylibctrd_init(pylibctrd_event_fn on_event, pylibctrd_stdio_fn on_stdio, pylibctrd_log_fn on_log, int log_level, pylibctrd_result *out);
int pylibctrd_shutdown(int64_t timeout_ms, pylibctrd_result *out);
int pylibctrd_set_log_level(int level, pylibctrd_result *out);
int pylibctrd_release(uint64_t handle, pylibctrd_result *out);
int pylibctrd_live_handles(pylibctrd_result *out);
int pylibctrd_nop(pylibctrd_result *out);
int pylibctrd_echo(char *data, size_t len, pylibctrd_result *out);
int pylibctrd_default_spec(pylibctrd_result *out);
int pylibctrd_panic_for_test(pylibctrd_result *out);

/* Daemon (Moby's libcontainerd/supervisor) */
int pylibctrd_daemon_start(char *root_dir, char *state_dir, char *log_level, pylibctrd_result *out);
int pylibctrd_daemon_stop(uint64_t daemon, int64_t timeout_ms, pylibctrd_result *out);

/* Client */
/* events_key: 0 for no Backend, else the key passed back to on_event (chosen
 * by Python before connecting, so no event can arrive before it is known). */
int pylibctrd_client_connect(char *address, char *ns, char *state_dir, uint64_t events_key, int64_t timeout_ms, pylibctrd_result *out);
int pylibctrd_client_close(uint64_t client, int wait, pylibctrd_result *out);
/* data: "<version>\0<revision>" (no JSON: decoding it was most of the call's Python-side cost). */
int pylibctrd_client_version(uint64_t client, pylibctrd_result *out);
int pylibctrd_client_load_container(uint64_t client, char *id, pylibctrd_result *out);
int pylibctrd_client_new_container(uint64_t client, char *id, char *spec, size_t spec_len, char *shim, char *runtime_options, size_t runtime_options_len, char *labels, size_t labels_len, int replace, pylibctrd_result *out);

/* Container */
int pylibctrd_container_new_task(uint64_t container, char *checkpoint_dir, int with_stdin, uint64_t stdio_token, pylibctrd_result *out);
int pylibctrd_container_task(uint64_t container, pylibctrd_result *out);
int pylibctrd_container_attach_task(uint64_t container, uint64_t stdio_token, pylibctrd_result *out);
int pylibctrd_container_delete(uint64_t container, pylibctrd_result *out);

/* Process: a Task or an exec'd Process */
int pylibctrd_process_pid(uint64_t process, pylibctrd_result *out);
int pylibctrd_process_kill(uint64_t process, int signal, pylibctrd_result *out);
int pylibctrd_process_resize(uint64_t process, uint32_t width, uint32_t height, pylibctrd_result *out);
int pylibctrd_process_delete(uint64_t process, pylibctrd_result *out);

/* Task */
int pylibctrd_task_start(uint64_t task, pylibctrd_result *out);
int pylibctrd_task_pause(uint64_t task, pylibctrd_result *out);
int pylibctrd_task_resume(uint64_t task, pylibctrd_result *out);
int pylibctrd_task_force_delete(uint64_t task, pylibctrd_result *out);
int pylibctrd_task_status(uint64_t task, pylibctrd_result *out);
int pylibctrd_task_stats(uint64_t task, pylibctrd_result *out);
int pylibctrd_task_pids(uint64_t task, pylibctrd_result *out);
int pylibctrd_task_summary(uint64_t task, pylibctrd_result *out);
int pylibctrd_task_exec(uint64_t task, char *process_id, char *spec, size_t spec_len, int with_stdin, uint64_t stdio_token, pylibctrd_result *out);
int pylibctrd_task_update_resources(uint64_t task, char *resources, size_t len, pylibctrd_result *out);
int pylibctrd_task_create_checkpoint(uint64_t task, char *dir, int exit, pylibctrd_result *out);

/* Stdio streams handed to attach callbacks */
int pylibctrd_stream_read(uint64_t stream, char *buf, size_t len, pylibctrd_result *out);
int pylibctrd_stream_write(uint64_t stream, char *buf, size_t len, pylibctrd_result *out);
int pylibctrd_stream_close(uint64_t stream, pylibctrd_result *out);

#endif
