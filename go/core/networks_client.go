package core

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	containerd "pylibctrd/internal/c8d/client"
)

// Network state lives in <state_dir>-network (see network.go), a sibling of
// the bundle dirs like the image service's <state_dir>-images.

// Networks is the client's network state.
func (c *Client) Networks() *Networks { return c.net }

// CreateNetwork stores a network (network.go).
func (c *Client) CreateNetwork(o NetworkOptions) (*Network, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	return c.net.CreateNetwork(o)
}

// ListNetworks is every network.
func (c *Client) ListNetworks() ([]Network, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	return c.net.List()
}

// RemoveNetwork removes a network no container is on.
func (c *Client) RemoveNetwork(name string) error {
	if c.closed.Load() {
		return ErrClosed
	}
	return c.net.RemoveNetwork(name)
}

// exists is whether containerd has container id.
func (c *Client) exists(ctx context.Context, id string) (bool, error) {
	_, err := c.c8d.ContainerService().Get(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return err == nil, err
}

func (c *Client) mustExist(ctx context.Context, id string) error {
	ok, err := c.exists(ctx, id)
	if err == nil && !ok {
		err = errdefs.NotFound(fmt.Errorf("no such container: %s", id))
	}
	return err
}

// ConnectNetwork attaches an existing container (set up with a network
// namespace of its own) to one more network.
func (c *Client) ConnectNetwork(ctx context.Context, id, network string, ports, aliases []string, ip string) (*Endpoint, error) {
	return get(c, ctx, func(ctx context.Context) (*Endpoint, error) {
		if err := c.mustExist(ctx, id); err != nil {
			return nil, err
		}
		return c.net.Connect(ctx, id, network, ports, aliases, ip)
	})
}

// DisconnectNetwork detaches a container from a network.
func (c *Client) DisconnectNetwork(ctx context.Context, id, network string) error {
	return c.do(ctx, func(ctx context.Context) error {
		if err := c.mustExist(ctx, id); err != nil {
			return err
		}
		return c.net.Disconnect(ctx, id, network)
	})
}

// Endpoints are container id's attachments.
func (c *Client) Endpoints(id string) ([]Endpoint, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	return c.net.Endpoints(id)
}

// CleanupNetworks tears down the setups whose container containerd does not
// have (a process that crashed between setup and NewContainer, or a
// container deleted by other means) and namespaces no setup names. It
// answers the ids it tore down.
func (c *Client) CleanupNetworks(ctx context.Context) ([]string, error) {
	return get(c, ctx, func(ctx context.Context) ([]string, error) {
		ids, err := c.net.IDs()
		if err != nil {
			return nil, err
		}
		done := []string{}
		for _, id := range ids {
			ok, err := c.exists(ctx, id)
			if err != nil {
				return done, err
			}
			if ok {
				continue
			}
			if err := c.net.Teardown(ctx, id); err != nil {
				return done, err
			}
			done = append(done, id)
		}
		return done, c.net.RemoveOrphanNamespaces()
	})
}

// setupNetwork sets up what the spec's NetworkAnnotation asks for and puts
// it into the spec; undo tears it down. Without a request it does nothing.
func (c *Client) setupNetwork(ctx context.Context, id string, spec *specs.Spec, replace bool) (undo func(), err error) {
	req, err := DecodeNetworkRequest(spec)
	if err != nil || req == nil {
		return func() {}, err
	}
	if replace {
		if err := c.net.Teardown(ctx, id); err != nil {
			return nil, err
		}
	}
	s, err := c.net.Setup(ctx, id, req, func(owner string) (uint32, error) {
		ctr, err := c.c8d.LoadContainer(ctx, owner)
		if err != nil {
			return 0, err
		}
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			return 0, err
		}
		st, err := task.Status(ctx)
		if err != nil {
			return 0, err
		}
		if st.Status != containerd.Running {
			return 0, errdefs.Conflict(fmt.Errorf("container %s is not running", owner))
		}
		return task.Pid(), nil
	})
	if err != nil {
		return nil, err
	}
	ApplyNetwork(spec, s)
	return func() { _ = c.net.Teardown(context.WithoutCancel(ctx), id) }, nil
}
