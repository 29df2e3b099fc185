package main

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/libcontainerd"
	"github.com/docker/docker/libcontainerd/types"
	"pylibctrd/internal/c8d/cio"
	containerd "pylibctrd/internal/c8d/client"
	"pylibctrd/internal/c8d/namespaces"

	"pylibctrd/cmd/internal/harness"
)

// conn is one libcontainerd client, closable the way dockerd shuts its
// client down: cancel the context libcontainerd's event stream runs in, then
// close containerd's client.
type conn struct {
	lc     types.Client
	c8d    *containerd.Client
	cancel context.CancelFunc
}

func dial(address, ns, stateDir string, backend types.Backend) (*conn, error) {
	c8d, err := containerd.New(address, containerd.WithDefaultNamespace(ns), containerd.WithTimeout(30*time.Second))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), ns))
	lc, err := libcontainerd.NewClient(ctx, c8d, stateDir, ns, backend)
	if err != nil {
		cancel()
		c8d.Close()
		return nil, err
	}
	return &conn{lc: lc, c8d: c8d, cancel: cancel}, nil
}

func (c *conn) close() error {
	c.cancel()
	return c.c8d.Close()
}

// runner holds what a scenario made; the maps are locked because parallel
// step groups use them from several goroutines.
type runner struct {
	address, ns, stateDir, rootfs, prefix string
	imagesDir                             string // the archives the test built
	registry, authRegistry                string // the test's registries (host:port)
	ctx                                   context.Context
	events                                *harness.Recorder

	imgOnce sync.Once
	img     *imageService

	mu         sync.Mutex
	clients    map[string]*conn
	containers map[string]types.Container
	tasks      map[string]types.Task
	procs      map[string]types.Process
	dios       map[string]*cio.DirectIO
	outputs    map[string]*harness.Output
	used       []string
	prepared   []string // containers with a prepared rootfs, released at cleanup
	// The pids of the execs started in each task (by the task's pid), and the
	// pids of every process a force delete (ForceDelete, or ReplaceContainer's
	// of the old task) killed: the Python side leaves their exits out of the
	// comparison unless a step waited for them (containerd 2.x's shim may drop
	// them; tests/differential/trace.py).
	execPids map[uint32][]uint32
	killed   map[uint32]bool
}

func newRunner() *runner {
	return &runner{
		events:  harness.NewRecorder(),
		clients: map[string]*conn{}, containers: map[string]types.Container{},
		tasks: map[string]types.Task{}, procs: map[string]types.Process{},
		dios: map[string]*cio.DirectIO{}, outputs: map[string]*harness.Output{},
		execPids: map[uint32][]uint32{}, killed: map[uint32]bool{},
	}
}

func (r *runner) id(name string) string { return r.prefix + name }

func key(s Step) string {
	if s.Process == "" {
		return s.Container
	}
	return s.Container + "/" + s.Process
}

func (r *runner) client(s Step) types.Client {
	name := s.Client
	if name == "" {
		name = "main"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.clients[name].lc
}

func (r *runner) container(s Step) types.Container {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.containers[s.Container]
}

func (r *runner) setContainer(name string, c types.Container) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.containers[name] = c
	r.useLocked(name)
}

func (r *runner) task(s Step) types.Task {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tasks[s.Container]
}

func (r *runner) setTask(name string, t types.Task) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks[name] = t
}

// proc is the step's exec, or the task itself without a process name.
func (r *runner) proc(s Step) types.Process {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.Process == "" {
		return r.tasks[s.Container]
	}
	return r.procs[key(s)]
}

func (r *runner) setProc(k string, p types.Process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.procs[k] = p
}

// addExec notes an exec started in task t.
func (r *runner) addExec(t types.Task, p types.Process) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.execPids[t.Pid()] = append(r.execPids[t.Pid()], p.Pid())
}

// killAll notes the pids a force delete of the container's task (the one
// this runner holds, if any) kills: its own and its execs'.
func (r *runner) killAll(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.tasks[name]
	if !ok || t == nil {
		return
	}
	r.killed[t.Pid()] = true
	for _, p := range r.execPids[t.Pid()] {
		r.killed[p] = true
	}
}

// killedPids is what killAll noted, sorted.
func (r *runner) killedPids() []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint32, 0, len(r.killed))
	for p := range r.killed {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (r *runner) dio(s Step) *cio.DirectIO {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dios[key(s)]
}

func (r *runner) output(s Step) *harness.Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outputs[key(s)]
}

func (r *runner) snapshotOutputs() map[string]*harness.Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]*harness.Output{}
	for k, v := range r.outputs {
		out[k] = v
	}
	return out
}

// keep copies the objects of container `from` (its Container, Task and
// Processes) under the name `as`, so later steps can call stale objects.
func (r *runner) keep(from, as string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.containers[from]; ok {
		r.containers[as] = c
	}
	if t, ok := r.tasks[from]; ok {
		r.tasks[as] = t
	}
	for k, p := range r.procs {
		if strings.HasPrefix(k, from+"/") {
			r.procs[as+"/"+strings.TrimPrefix(k, from+"/")] = p
		}
	}
}

func (r *runner) use(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.useLocked(name)
}

func (r *runner) useLocked(name string) {
	for _, c := range r.used {
		if c == name {
			return
		}
	}
	r.used = append(r.used, name)
}

func (r *runner) usedNames() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.used...)
}

// attach captures output ("capture"), holds the streams unread ("hold"), or
// does what a caller wanting no IO does ("none": drain output, close stdin).
func (r *runner) attach(k, mode string) types.StdioCallback {
	if mode == "none" {
		return harness.Discard
	}
	return harness.Attach(mode == "hold", func(dio *cio.DirectIO, out *harness.Output) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.outputs[k] = out
		r.dios[k] = dio
	})
}

func (r *runner) setPrepared(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.prepared {
		if c == name {
			return
		}
	}
	r.prepared = append(r.prepared, name)
}

// taskState is dockerd's view of whether the step's container is running:
// "running" or "paused" while its task is, "" otherwise.
func (r *runner) taskState(s Step) containerState {
	return func(ctx context.Context, id string) string {
		c, err := r.client(s).LoadContainer(ctx, id)
		if err != nil {
			return ""
		}
		t, err := c.Task(ctx)
		if err != nil {
			return ""
		}
		st, err := t.Status(ctx)
		if err != nil {
			return ""
		}
		switch st.Status {
		case containerd.Running:
			return "running"
		case containerd.Paused, containerd.Pausing:
			return "paused"
		}
		return ""
	}
}
