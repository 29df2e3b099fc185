package core

import (
	"context"
	"errors"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/libcontainerd/types"
	"pylibctrd/internal/c8d/containers"
)

// Container wraps a libcontainerd Container.
type Container struct {
	ID     string
	client *Client
	ctr    types.Container
}

// NewTask is libcontainerd's Container.NewTask.
func (c *Container) NewTask(ctx context.Context, checkpointDir string, withStdin bool, attach types.StdioCallback) (*Task, error) {
	t, err := get(c.client, ctx, func(ctx context.Context) (types.Task, error) {
		return withFIFOs(ctx, fifoFDs(withStdin, false), func(ctx context.Context) (types.Task, error) {
			return c.ctr.NewTask(ctx, checkpointDir, withStdin, attach)
		})
	})
	if err != nil {
		return nil, err
	}
	return newTask(c.client, c.ID, t), nil
}

// Task is libcontainerd's Container.Task.
func (c *Container) Task(ctx context.Context) (*Task, error) {
	t, err := get(c.client, ctx, c.ctr.Task)
	if err != nil {
		return nil, err
	}
	return newTask(c.client, c.ID, t), nil
}

// AttachTask is libcontainerd's Container.AttachTask. libcontainerd opens the
// FIFOs with the context it is given and closes them when that context ends,
// so that context lives as long as the client (dockerd passes
// context.Background()); ctx and the timeout only bound the wait. An attach
// that gives up cancels its own context, so nothing of it stays behind: its
// FIFO opens abort, or, if it succeeded meanwhile, its FIFOs are closed.
func (c *Container) AttachTask(ctx context.Context, attach types.StdioCallback) (*Task, error) {
	wait, cancelWait, err := c.client.bound(ctx)
	if err != nil {
		return nil, err
	}
	defer cancelWait()
	// Whether the task has stdin is only known inside: assume it has.
	if err := fdHeadroom(fifoFDs(true, false)); err != nil {
		return nil, err
	}
	lifetime, detach := context.WithCancel(c.client.ctx)
	type attached struct {
		t   types.Task
		err error
	}
	done := make(chan attached, 1)
	go func() {
		t, err := c.ctr.AttachTask(lifetime, attach)
		done <- attached{t, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			detach()
			return nil, r.err
		}
		t := newTask(c.client, c.ID, r.t)
		t.detach = detach
		return t, nil
	case <-wait.Done():
		detach()
		releaseReserve() // for FIFO opens that the detach left pending (fdguard.go)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errdefs.Deadline(fmt.Errorf("attach to task of %s: timed out after %s", c.ID, c.client.timeout))
	}
}

// Delete is libcontainerd's Container.Delete, then the teardown of the
// container's network setup, if it has one (networks_client.go); the
// container's logs go with it (logs.go), as with `docker rm`.
func (c *Container) Delete(ctx context.Context) error {
	err := c.client.do(ctx, func(ctx context.Context) error {
		err := c.ctr.Delete(ctx)
		if err != nil && !errdefs.IsNotFound(err) && !cerrdefs.IsNotFound(err) {
			return err
		}
		if c.client.net.Has(c.ID) {
			if terr := c.client.net.Teardown(ctx, c.ID); terr != nil {
				return errors.Join(err, terr)
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	c.client.removeContainerHome(c.ID)
	return nil
}

// ListContainers is containerd's record of every container in the client's
// namespace (libcontainerd has no list: dockerd keeps its own store).
func (c *Client) ListContainers(ctx context.Context) ([]containers.Container, error) {
	return get(c, ctx, func(ctx context.Context) ([]containers.Container, error) {
		return c.c8d.ContainerService().List(ctx)
	})
}
