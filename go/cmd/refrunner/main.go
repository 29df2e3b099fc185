// Command refrunner is the reference side of the differential tests: it runs
// a scenario (tests/scenarios/*.json) with Moby's libcontainerd called
// directly from Go (no C ABI, no pylibctrd code) and prints the raw trace as
// JSON lines, in the format tests/differential/runner.py prints for pylibctrd.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/libcontainerd"
	"github.com/docker/docker/libcontainerd/shimopts"
	"github.com/docker/docker/libcontainerd/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/sirupsen/logrus"

	"pylibctrd/cmd/internal/harness"
)

// Step is one scenario step (see tests/scenarios/README.md).
type Step struct {
	Op          string            `json:"op"`
	Container   string            `json:"container"`
	Process     string            `json:"process"`
	Client      string            `json:"client"`
	Args        []string          `json:"args"`
	TTY         bool              `json:"tty"`
	Stdin       bool              `json:"stdin"`
	IO          string            `json:"io"`
	Labels      map[string]string `json:"labels"`
	RuntimeOpts map[string]any    `json:"runtime_options"`
	MemoryLimit int64             `json:"memory_limit"`
	Data        string            `json:"data"`
	Signal      int               `json:"signal"`
	Event       string            `json:"event"`
	Width       uint32            `json:"width"`
	Height      uint32            `json:"height"`
	Seconds     float64           `json:"seconds"`
	Expect      string            `json:"expect"`
}

type scenario struct {
	Steps []Step `json:"steps"`
}

type runner struct {
	address, ns, stateDir, rootfs, prefix string
	clients                               map[string]types.Client
	containers                            map[string]types.Container
	tasks                                 map[string]types.Task
	procs                                 map[string]types.Process
	stdins                                map[string]*cio.DirectIO
	outputs                               map[string]*harness.Output
	events                                *harness.Recorder
	used                                  []string
}

// errorClass names an error the way Moby's errdefs (then containerd's) see it.
func errorClass(err error) string {
	checks := []struct {
		name string
		is   func(error) bool
	}{
		{"NotFound", errdefs.IsNotFound}, {"Conflict", errdefs.IsConflict},
		{"InvalidParameter", errdefs.IsInvalidParameter}, {"Unavailable", errdefs.IsUnavailable},
		{"Forbidden", errdefs.IsForbidden}, {"NotImplemented", errdefs.IsNotImplemented},
		{"System", errdefs.IsSystem}, {"Canceled", errdefs.IsCancelled}, {"Deadline", errdefs.IsDeadline},
		{"Unknown", errdefs.IsUnknown},
		{"NotFound", cerrdefs.IsNotFound}, {"AlreadyExists", cerrdefs.IsAlreadyExists},
		{"FailedPrecondition", cerrdefs.IsFailedPrecondition}, {"InvalidParameter", cerrdefs.IsInvalidArgument},
		{"Unavailable", cerrdefs.IsUnavailable}, {"NotImplemented", cerrdefs.IsNotImplemented},
		{"Canceled", cerrdefs.IsCanceled}, {"Deadline", cerrdefs.IsDeadlineExceeded},
	}
	for _, c := range checks {
		if c.is(err) {
			return c.name
		}
	}
	return "Unknown"
}

func (r *runner) key(s Step) string {
	if s.Process == "" {
		return s.Container
	}
	return s.Container + "/" + s.Process
}

func (r *runner) id(name string) string { return r.prefix + name }

func (r *runner) client(s Step) types.Client {
	if s.Client == "second" {
		return r.clients["second"]
	}
	return r.clients["main"]
}

func (r *runner) spec(s Step) *specs.Spec {
	spec := harness.Spec(r.rootfs, s.Args, s.TTY, "/pylibctrd-diff/"+r.id(s.Container))
	if s.MemoryLimit != 0 {
		limit := s.MemoryLimit
		spec.Linux.Resources = &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}}
	}
	return spec
}

// attach captures output (or holds it unread, mode "hold") and keeps stdin.
func (r *runner) attach(key, mode string) types.StdioCallback {
	return harness.Attach(mode == "hold", func(dio *cio.DirectIO, out *harness.Output) {
		r.outputs[key] = out
		if dio.Stdin != nil {
			r.stdins[key] = dio
		}
	})
}

func (r *runner) do(ctx context.Context, s Step) (any, error) {
	name := r.id(s.Container)
	switch s.Op {
	case "new_container", "replace_container":
		r.use(s.Container)
		var opts []containerd.NewContainerOpts
		if s.Labels != nil {
			opts = append(opts, containerd.WithContainerLabels(s.Labels))
		}
		var runtimeOptions any
		if s.RuntimeOpts != nil {
			var err error
			if runtimeOptions, err = shimopts.Generate(harness.Shim, s.RuntimeOpts); err != nil {
				return nil, err
			}
		}
		var c types.Container
		var err error
		if s.Op == "new_container" {
			c, err = r.client(s).NewContainer(ctx, name, r.spec(s), harness.Shim, runtimeOptions, opts...)
		} else {
			c, err = libcontainerd.ReplaceContainer(ctx, r.client(s), name, r.spec(s), harness.Shim, runtimeOptions, opts...)
		}
		if err != nil {
			return nil, err
		}
		r.containers[s.Container] = c
		return "ok", nil
	case "load_container":
		r.use(s.Container)
		c, err := r.client(s).LoadContainer(ctx, name)
		if err != nil {
			return nil, err
		}
		r.containers[s.Container] = c
		return "ok", nil
	case "delete_container":
		return "ok", r.containers[s.Container].Delete(ctx)
	case "new_task":
		t, err := r.containers[s.Container].NewTask(ctx, "", s.Stdin, r.attach(s.Container, s.IO))
		if err != nil {
			return nil, err
		}
		r.tasks[s.Container] = t
		return map[string]any{"pid": t.Pid()}, nil
	case "task":
		t, err := r.containers[s.Container].Task(ctx)
		if err != nil {
			return nil, err
		}
		r.tasks[s.Container] = t
		return map[string]any{"pid": t.Pid()}, nil
	case "attach_task":
		t, err := r.containers[s.Container].AttachTask(context.Background(), r.attach(s.Container, s.IO))
		if err != nil {
			return nil, err
		}
		r.tasks[s.Container] = t
		return map[string]any{"pid": t.Pid()}, nil
	case "start":
		return "ok", r.tasks[s.Container].Start(ctx)
	case "pause":
		return "ok", r.tasks[s.Container].Pause(ctx)
	case "resume":
		return "ok", r.tasks[s.Container].Resume(ctx)
	case "status":
		st, err := r.tasks[s.Container].Status(ctx)
		return string(st.Status), err
	case "force_delete":
		return "ok", r.tasks[s.Container].ForceDelete(ctx)
	case "stats":
		st, err := r.tasks[s.Container].Stats(ctx)
		if err != nil {
			return nil, err
		}
		raw, _ := json.Marshal(st.Metrics)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return map[string]any{"has_read": !st.Read.IsZero(), "metrics": keys}, nil
	case "memory_limit":
		st, err := r.tasks[s.Container].Stats(ctx)
		if err != nil {
			return nil, err
		}
		raw, _ := json.Marshal(st.Metrics)
		var m struct {
			Memory struct {
				Usage struct {
					Limit uint64 `json:"limit"`
				} `json:"usage"`
			} `json:"memory"`
		}
		_ = json.Unmarshal(raw, &m)
		return m.Memory.Usage.Limit, nil
	case "pids":
		pis, err := r.tasks[s.Container].Pids(ctx)
		if err != nil {
			return nil, err
		}
		pids := []uint32{}
		for _, p := range pis {
			pids = append(pids, p.Pid)
		}
		return pids, nil
	case "update_resources":
		limit := s.MemoryLimit
		return "ok", r.tasks[s.Container].UpdateResources(ctx, &types.Resources{Memory: &specs.LinuxMemory{Limit: &limit}})
	case "exec":
		spec := *r.spec(s).Process
		spec.Args, spec.Terminal = s.Args, s.TTY
		p, err := r.tasks[s.Container].Exec(ctx, s.Process, &spec, s.Stdin, r.attach(r.key(s), s.IO))
		if err != nil {
			return nil, err
		}
		r.procs[r.key(s)] = p
		return map[string]any{"pid": p.Pid()}, nil
	case "kill":
		return "ok", r.proc(s).Kill(ctx, syscall.Signal(s.Signal))
	case "resize":
		return "ok", r.proc(s).Resize(ctx, s.Width, s.Height)
	case "delete_task", "delete_process":
		st, err := r.proc(s).Delete(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]any{"exit_code": st.ExitCode(), "has_exited_at": !st.ExitTime().IsZero()}, nil
	case "write_stdin":
		_, err := r.stdins[r.key(s)].Stdin.Write([]byte(s.Data))
		return "ok", err
	case "close_stdin":
		return "ok", r.stdins[r.key(s)].Stdin.Close()
	case "wait_event":
		// paused/resumed/oom carry no process id; exit/create/start default to the init process
		process := s.Process
		if process == "" && (s.Event == "exit" || s.Event == "create" || s.Event == "start") {
			process = name
		}
		if !r.events.WaitFor(name, s.Event, process, 30*time.Second) {
			return nil, fmt.Errorf("timeout waiting for %s", s.Event)
		}
		return "ok", nil
	case "wait_output":
		if !r.outputs[r.key(s)].Wait(15 * time.Second) {
			return nil, fmt.Errorf("timeout waiting for output")
		}
		return "ok", nil
	case "sleep":
		time.Sleep(time.Duration(s.Seconds * float64(time.Second)))
		return "ok", nil
	}
	return nil, fmt.Errorf("unknown op %q", s.Op)
}

func (r *runner) use(container string) {
	for _, c := range r.used {
		if c == container {
			return
		}
	}
	r.used = append(r.used, container)
}

func (r *runner) proc(s Step) types.Process {
	if s.Process == "" {
		return r.tasks[s.Container]
	}
	return r.procs[r.key(s)]
}

func (r *runner) files() map[string]any {
	out := map[string]any{}
	for _, c := range r.used {
		entries, err := os.ReadDir(filepath.Join(r.stateDir, r.id(c)))
		if err != nil {
			out[c] = nil
			continue
		}
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		out[c] = names
	}
	return out
}

// records reads the containers as containerd's own CLI shows them.
func (r *runner) records() map[string]any {
	out := map[string]any{}
	for _, c := range r.used {
		raw, err := exec.Command("ctr", "-a", r.address, "-n", r.ns, "containers", "info", r.id(c)).Output()
		if err != nil {
			out[c] = nil
			continue
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		out[c] = v
	}
	return out
}

var recordOps = map[string]bool{"new_container": true, "replace_container": true, "delete_container": true, "load_container": true}

func main() {
	var r runner
	var scenarioPath string
	flag.StringVar(&r.address, "address", "", "containerd socket")
	flag.StringVar(&r.ns, "namespace", "", "containerd namespace")
	flag.StringVar(&r.stateDir, "state-dir", "", "libcontainerd state dir (bundles)")
	flag.StringVar(&r.rootfs, "rootfs", "", "busybox rootfs")
	flag.StringVar(&r.prefix, "prefix", "", "prefix for container ids")
	flag.StringVar(&scenarioPath, "scenario", "", "scenario JSON file")
	flag.Parse()
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(logrus.WarnLevel)

	raw, err := os.ReadFile(scenarioPath)
	if err != nil {
		fatal(err)
	}
	var sc scenario
	if err := json.Unmarshal(raw, &sc); err != nil {
		fatal(err)
	}
	r.events = harness.NewRecorder()
	r.clients = map[string]types.Client{}
	r.containers, r.tasks, r.procs = map[string]types.Container{}, map[string]types.Task{}, map[string]types.Process{}
	r.stdins, r.outputs = map[string]*cio.DirectIO{}, map[string]*harness.Output{}

	var ctx context.Context
	for _, name := range []string{"main", "second"} {
		backend := r.events
		if name == "second" {
			backend = harness.NewRecorder() // events are traced once, from the main client
		}
		lc, cctx, err := harness.Connect(r.address, r.ns, r.stateDir, backend)
		if err != nil {
			fatal(err)
		}
		r.clients[name], ctx = lc, cctx
	}

	enc := json.NewEncoder(os.Stdout)
	for i, s := range sc.Steps {
		stepCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		res, err := r.do(stepCtx, s)
		cancel()
		line := map[string]any{"step": i, "op": s.Op, "files": r.files()}
		if err != nil {
			line["error"] = map[string]string{"class": errorClass(err), "message": err.Error()}
		} else {
			line["result"] = res
		}
		if recordOps[s.Op] {
			line["record"] = r.records()
		}
		_ = enc.Encode(line)
	}
	settle(r.events)
	outputs := map[string]any{}
	for k, o := range r.outputs {
		stdout, stderr := o.Text()
		outputs[k] = map[string]string{"stdout": stdout, "stderr": stderr}
	}
	_ = enc.Encode(map[string]any{"events": r.events.Snapshot(), "outputs": outputs})
	r.cleanup(ctx)
}

// settle waits until no event arrived for 300ms (at most 5s).
func settle(rec *harness.Recorder) {
	deadline := time.Now().Add(5 * time.Second)
	last := rec.Count()
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		n := rec.Count()
		if n == last {
			return
		}
		last = n
	}
}

// cleanup removes every container the scenario used (not traced).
func (r *runner) cleanup(ctx context.Context) {
	lc := r.clients["main"]
	for _, c := range r.used {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if ctr, err := lc.LoadContainer(cctx, r.id(c)); err == nil {
			if t, err := ctr.Task(cctx); err == nil {
				_ = t.ForceDelete(cctx)
			}
			_ = ctr.Delete(cctx)
		}
		cancel()
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "refrunner:", err)
	os.Exit(2)
}
