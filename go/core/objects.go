package core

import (
	"context"
	"encoding/json"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/typeurl/v2"
	"github.com/docker/docker/libcontainerd/types"
)

// Container wraps a libcontainerd Container.
type Container struct {
	ID     string
	client *Client
	ctr    types.Container
}

// Task wraps a libcontainerd Task.
type Task struct {
	client *Client
	task   types.Task
}

// Process wraps a libcontainerd (exec) Process.
type Process struct {
	client *Client
	proc   types.Process
}

// Proc is what a Task and a Process share (types.Process).
type Proc interface {
	owner() *Client
	process() types.Process
}

func (t *Task) owner() *Client            { return t.client }
func (t *Task) process() types.Process    { return t.task }
func (p *Process) owner() *Client         { return p.client }
func (p *Process) process() types.Process { return p.proc }

// NewTask wraps Container.NewTask; token names the Python attach callback.
func (c *Container) NewTask(checkpointDir string, withStdin bool, token uint64) (*Task, error) {
	var t types.Task
	err := c.client.Do(func(ctx context.Context) (err error) {
		t, err = c.ctr.NewTask(ctx, checkpointDir, withStdin, stdioCallback(token))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Task{client: c.client, task: t}, nil
}

// Task wraps Container.Task.
func (c *Container) Task() (*Task, error) {
	var t types.Task
	err := c.client.Do(func(ctx context.Context) (err error) {
		t, err = c.ctr.Task(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Task{client: c.client, task: t}, nil
}

// AttachTask wraps Container.AttachTask. libcontainerd opens the FIFOs with
// the context it is given and closes them when that context ends, so the
// context must outlive the call (dockerd passes context.Background()): it
// lives as long as the client, and the timeout only bounds the wait here.
func (c *Container) AttachTask(token uint64) (*Task, error) {
	if err := c.client.checkOpen(); err != nil {
		return nil, err
	}
	type attached struct {
		t   types.Task
		err error
	}
	done := make(chan attached, 1)
	go func() {
		t, err := c.ctr.AttachTask(c.client.ctx, stdioCallback(token))
		done <- attached{t, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		return &Task{client: c.client, task: r.t}, nil
	case <-time.After(c.client.timeout):
		return nil, Errorf(CodeDeadline, "attach to task of %s: timed out after %s", c.ID, c.client.timeout)
	}
}

// Delete wraps Container.Delete.
func (c *Container) Delete() error {
	return c.client.Do(c.ctr.Delete)
}

// Pid is the process's system pid (no round trip).
func Pid(p Proc) (uint32, error) {
	if err := p.owner().checkOpen(); err != nil {
		return 0, err
	}
	return p.process().Pid(), nil
}

// Kill sends a signal.
func Kill(p Proc, signal int) error {
	return p.owner().Do(func(ctx context.Context) error {
		return p.process().Kill(ctx, syscall.Signal(signal))
	})
}

// Resize sets the terminal size.
func Resize(p Proc, width, height uint32) error {
	return p.owner().Do(func(ctx context.Context) error {
		return p.process().Resize(ctx, width, height)
	})
}

// Delete removes the process and returns its exit status as JSON.
func Delete(p Proc) ([]byte, error) {
	var st *containerd.ExitStatus
	err := p.owner().Do(func(ctx context.Context) (err error) {
		st, err = p.process().Delete(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := map[string]any{"exit_code": st.ExitCode(), "exited_at": unixNanos(st.ExitTime()), "error": nil}
	if st.Error() != nil {
		out["error"] = st.Error().Error()
	}
	return json.Marshal(out)
}

// unixNanos encodes a time for Python; the zero time becomes null.
func unixNanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// Start, Pause, Resume, ForceDelete: plain wrappers.
func (t *Task) Start() error       { return t.client.Do(t.task.Start) }
func (t *Task) Pause() error       { return t.client.Do(t.task.Pause) }
func (t *Task) Resume() error      { return t.client.Do(t.task.Resume) }
func (t *Task) ForceDelete() error { return t.client.Do(t.task.ForceDelete) }

// Status is the task's containerd status string ("running", ...).
func (t *Task) Status() ([]byte, error) {
	var st containerd.Status
	err := t.client.Do(func(ctx context.Context) (err error) {
		st, err = t.task.Status(ctx)
		return err
	})
	return []byte(st.Status), err
}

// Stats returns {"read": unix ns, "metrics": cgroup metrics} as JSON.
func (t *Task) Stats() ([]byte, error) {
	var st *types.Stats
	err := t.client.Do(func(ctx context.Context) (err error) {
		st, err = t.task.Stats(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"read": unixNanos(st.Read), "metrics": st.Metrics})
}

// Pids returns [{"pid": n, "info": {...} or null}] as JSON.
func (t *Task) Pids() ([]byte, error) {
	var pis []containerd.ProcessInfo
	err := t.client.Do(func(ctx context.Context) (err error) {
		pis, err = t.task.Pids(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(pis))
	for _, pi := range pis {
		var info any
		if pi.Info != nil {
			if v, err := typeurl.UnmarshalAny(pi.Info); err == nil {
				info = v
			}
		}
		out = append(out, map[string]any{"pid": pi.Pid, "info": info})
	}
	return json.Marshal(out)
}

// Summary wraps Task.Summary (its entries are empty on Linux).
func (t *Task) Summary() ([]byte, error) {
	var s []types.Summary
	err := t.client.Do(func(ctx context.Context) (err error) {
		s, err = t.task.Summary(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if s == nil {
		s = []types.Summary{}
	}
	return json.Marshal(s)
}

// Exec wraps Task.Exec; spec is an OCI process spec as JSON.
func (t *Task) Exec(processID string, spec []byte, withStdin bool, token uint64) (*Process, error) {
	ps, err := decodeProcess(spec)
	if err != nil {
		return nil, err
	}
	var p types.Process
	err = t.client.Do(func(ctx context.Context) (err error) {
		p, err = t.task.Exec(ctx, processID, ps, withStdin, stdioCallback(token))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Process{client: t.client, proc: p}, nil
}

// UpdateResources wraps Task.UpdateResources; resources are OCI JSON.
func (t *Task) UpdateResources(resources []byte) error {
	r, err := decodeResources(resources)
	if err != nil {
		return err
	}
	return t.client.Do(func(ctx context.Context) error {
		return t.task.UpdateResources(ctx, r)
	})
}

// CreateCheckpoint wraps Task.CreateCheckpoint.
func (t *Task) CreateCheckpoint(dir string, exit bool) error {
	return t.client.Do(func(ctx context.Context) error {
		return t.task.CreateCheckpoint(ctx, dir, exit)
	})
}
