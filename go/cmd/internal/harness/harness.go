// Package harness holds what the Go reference programs (refrunner, gobench)
// share: dockerd-style specs, an event recorder Backend and output capture,
// all over libcontainerd directly (no pylibctrd code).
package harness

import (
	"context"
	"encoding/json"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/libcontainerd"
	"github.com/docker/docker/libcontainerd/types"
	"github.com/docker/docker/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"pylibctrd/internal/c8d/cio"
	containerd "pylibctrd/internal/c8d/client"
	"pylibctrd/internal/c8d/namespaces"

	// Task.Stats needs the cgroup metrics types registered.
	_ "github.com/containerd/cgroups/v3/cgroup1/stats"
	_ "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// Shim is the runtime every reference program uses.
const Shim = "io.containerd.runc.v2"

// Spec is Moby's default spec with a rootfs and a command, exactly as
// pylibctrd.container_spec builds it.
func Spec(rootfs string, args []string, tty bool, cgroupsPath string) *specs.Spec {
	spec := oci.DefaultSpec()
	spec.Root = &specs.Root{Path: rootfs}
	spec.Process.Args = args
	spec.Process.Cwd = "/"
	spec.Process.Terminal = tty
	spec.Process.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	if tty {
		spec.Process.Env = append(spec.Process.Env, "TERM=xterm")
	}
	spec.Linux.CgroupsPath = cgroupsPath
	return &spec
}

// Connect makes a libcontainerd client the way dockerd does.
func Connect(address, ns, stateDir string, backend types.Backend) (types.Client, context.Context, error) {
	c8d, err := containerd.New(address, containerd.WithDefaultNamespace(ns), containerd.WithTimeout(30*time.Second))
	if err != nil {
		return nil, nil, err
	}
	ctx := namespaces.WithNamespace(context.Background(), ns)
	lc, err := libcontainerd.NewClient(ctx, c8d, stateDir, ns, backend)
	return lc, ctx, err
}

// Recorder is a Backend that keeps events and lets callers wait for one.
type Recorder struct {
	mu     sync.Mutex
	cond   *sync.Cond
	Events []map[string]any
	// OnEvent, if set, sees every event first (e.g. to timestamp it).
	OnEvent func(types.EventType, types.EventInfo)
}

// NewRecorder makes an empty Recorder.
func NewRecorder() *Recorder {
	r := &Recorder{Events: []map[string]any{}}
	r.cond = sync.NewCond(&r.mu)
	return r
}

// ProcessEvent implements types.Backend.
func (r *Recorder) ProcessEvent(_ string, et types.EventType, ei types.EventInfo) error {
	if r.OnEvent != nil {
		r.OnEvent(et, ei)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Events = append(r.Events, map[string]any{
		"type": string(et), "container_id": ei.ContainerID, "process_id": ei.ProcessID,
		"pid": ei.Pid, "exit_code": ei.ExitCode, "has_exited_at": !ei.ExitedAt.IsZero(),
		"error": errorText(ei.Error),
	})
	r.cond.Broadcast()
	return nil
}

// Count is the number of events so far.
func (r *Recorder) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.Events)
}

func errorText(err error) any {
	if err == nil {
		return nil
	}
	return err.Error()
}

// WaitFor waits for an event; an empty process matches any.
func (r *Recorder) WaitFor(container, event, process string, timeout time.Duration) bool {
	return r.WaitForNth(container, event, process, 1, timeout)
}

// WaitForNth waits until n such events arrived; those n are then marked
// "waited" (the differential trace compares an exit of a process a force
// delete killed only if a step waited for it: tests/differential/trace.py).
func (r *Recorder) WaitForNth(container, event, process string, n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	wake := time.AfterFunc(timeout, func() { r.mu.Lock(); r.cond.Broadcast(); r.mu.Unlock() })
	defer wake.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var seen []map[string]any
		for _, e := range r.Events {
			if e["container_id"] == container && e["type"] == event && (process == "" || e["process_id"] == process) {
				seen = append(seen, e)
			}
		}
		if len(seen) >= n {
			for _, e := range seen[:n] {
				e["waited"] = true
			}
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		r.cond.Wait()
	}
}

// Output collects a process's stdout and stderr.
type Output struct {
	mu             sync.Mutex
	Stdout, Stderr []byte
	wg             sync.WaitGroup
}

// Bytes returns copies of what was captured so far.
func (o *Output) Bytes() ([]byte, []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]byte(nil), o.Stdout...), append([]byte(nil), o.Stderr...)
}

// Wait waits for EOF on both streams.
func (o *Output) Wait(timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { o.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// Attach returns a StdioCallback; with hold, streams are kept but never read.
// onAttach sees the DirectIO (for stdin) and the Output.
func Attach(hold bool, onAttach func(*cio.DirectIO, *Output)) types.StdioCallback {
	return func(dio *cio.DirectIO) (cio.IO, error) {
		out := &Output{}
		onAttach(dio, out)
		if hold {
			return dio, nil
		}
		for _, p := range []struct {
			src io.Reader
			dst *[]byte
		}{{dio.Stdout, &out.Stdout}, {dio.Stderr, &out.Stderr}} {
			if p.src == nil {
				continue
			}
			out.wg.Add(1)
			go func(src io.Reader, dst *[]byte) {
				defer out.wg.Done()
				buf := make([]byte, 65536)
				for {
					n, err := src.Read(buf)
					out.mu.Lock()
					*dst = append(*dst, buf[:n]...)
					out.mu.Unlock()
					if err != nil {
						return
					}
				}
			}(p.src, p.dst)
		}
		return dio, nil
	}
}

// Discard is the StdioCallback of a caller that wants no IO: output is
// drained and dropped, stdin closed.
func Discard(dio *cio.DirectIO) (cio.IO, error) {
	if dio.Stdin != nil {
		dio.Stdin.Close()
	}
	for _, r := range []io.ReadCloser{dio.Stdout, dio.Stderr} {
		if r != nil {
			go io.Copy(io.Discard, r)
		}
	}
	return dio, nil
}

// Snapshot copies the events so far.
func (r *Recorder) Snapshot() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]map[string]any{}, r.Events...)
}

// MergePatch applies an RFC 7386 JSON merge patch (null removes a member)
// to *v, through its JSON form: the differential scenarios' spec_patch, so
// that a scenario can express any spec a Go caller can build. A nil patch
// changes nothing.
func MergePatch[T any](v *T, patch json.RawMessage) error {
	if len(patch) == 0 || string(patch) == "null" {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc, p any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return err
	}
	out, err := json.Marshal(mergePatch(doc, p))
	if err != nil {
		return err
	}
	var fresh T
	if err := json.Unmarshal(out, &fresh); err != nil {
		return err
	}
	*v = fresh
	return nil
}

func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}
