package core

import (
	"context"
	"syscall"

	"github.com/docker/docker/libcontainerd/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	containerd "pylibctrd/internal/c8d/client"
)

// Process wraps a libcontainerd Process (an exec'd process; Task embeds it).
type Process struct {
	client *Client
	proc   types.Process
}

// Pid is the system pid (no round trip).
func (p *Process) Pid() (uint32, error) {
	if p.client.closed.Load() {
		return 0, ErrClosed
	}
	return p.proc.Pid(), nil
}

// Kill sends a signal.
func (p *Process) Kill(ctx context.Context, signal int) error {
	return p.client.do(ctx, func(ctx context.Context) error {
		return p.proc.Kill(ctx, syscall.Signal(signal))
	})
}

// Resize sets the terminal size.
func (p *Process) Resize(ctx context.Context, width, height uint32) error {
	return p.client.do(ctx, func(ctx context.Context) error {
		return p.proc.Resize(ctx, width, height)
	})
}

// Delete removes the process and returns its exit status.
func (p *Process) Delete(ctx context.Context) (*containerd.ExitStatus, error) {
	return get(p.client, ctx, p.proc.Delete)
}

// Task wraps a libcontainerd Task: the container's main process.
type Task struct {
	Process
	task   types.Task
	id     string             // the container's id: an exec may not take it
	detach context.CancelFunc // would end an attached task's IO early; the IO lives as long as the client, as in dockerd
}

func newTask(c *Client, id string, t types.Task) *Task {
	return &Task{Process: Process{client: c, proc: t}, task: t, id: id}
}

func (t *Task) Start(ctx context.Context) error       { return t.client.do(ctx, t.task.Start) }
func (t *Task) Pause(ctx context.Context) error       { return t.client.do(ctx, t.task.Pause) }
func (t *Task) Resume(ctx context.Context) error      { return t.client.do(ctx, t.task.Resume) }
func (t *Task) ForceDelete(ctx context.Context) error { return t.client.do(ctx, t.task.ForceDelete) }

// Status is the task's containerd status.
func (t *Task) Status(ctx context.Context) (containerd.Status, error) {
	return get(t.client, ctx, t.task.Status)
}

// Stats are the task's cgroup metrics.
func (t *Task) Stats(ctx context.Context) (*types.Stats, error) {
	return get(t.client, ctx, t.task.Stats)
}

// Pids lists the task's processes.
func (t *Task) Pids(ctx context.Context) ([]containerd.ProcessInfo, error) {
	return get(t.client, ctx, t.task.Pids)
}

// Summary is libcontainerd's Task.Summary (it fails on Linux with runc, as in Go).
func (t *Task) Summary(ctx context.Context) ([]types.Summary, error) {
	return get(t.client, ctx, t.task.Summary)
}

// Exec is libcontainerd's Task.Exec.
func (t *Task) Exec(ctx context.Context, processID string, spec *specs.Process, withStdin bool, attach types.StdioCallback) (*Process, error) {
	// libcontainerd opens the FIFOs named after the process id before
	// containerd checks it: refuse only ids whose FIFOs would land outside
	// the bundle dir or be the init process's (ids.go); the rest is Go's.
	if err := checkExecID(t.id, processID); err != nil {
		return nil, err
	}
	if err := validateProcess(spec); err != nil {
		return nil, err
	}
	p, err := get(t.client, ctx, func(ctx context.Context) (types.Process, error) {
		return withFIFOs(ctx, fifoFDs(withStdin, spec.Terminal), func(ctx context.Context) (types.Process, error) {
			return t.task.Exec(ctx, processID, spec, withStdin, attach)
		})
	})
	if err != nil {
		return nil, err
	}
	return &Process{client: t.client, proc: p}, nil
}

// UpdateResources is libcontainerd's Task.UpdateResources.
func (t *Task) UpdateResources(ctx context.Context, r *types.Resources) error {
	return t.client.do(ctx, func(ctx context.Context) error {
		return t.task.UpdateResources(ctx, r)
	})
}

// CreateCheckpoint is libcontainerd's Task.CreateCheckpoint (needs CRIU).
func (t *Task) CreateCheckpoint(ctx context.Context, dir string, exit bool) error {
	return t.client.do(ctx, func(ctx context.Context) error {
		return t.task.CreateCheckpoint(ctx, dir, exit)
	})
}
