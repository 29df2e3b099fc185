// Package core adapts Moby's libcontainerd for callers outside dockerd: it
// dials containerd the way dockerd does and wraps libcontainerd's Client,
// Container, Task and Process. Every call takes a context and is bounded by
// the client's timeout; results are Go values and errors are Moby's or
// containerd's own.
package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/libcontainerd"
	"github.com/docker/docker/libcontainerd/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	containerd "pylibctrd/internal/c8d/client"
	"pylibctrd/internal/c8d/defaults"
	"pylibctrd/internal/c8d/identifiers"
	"pylibctrd/internal/c8d/namespaces"
	"pylibctrd/internal/c8d/plugin"

	// Task.Stats unmarshals cgroup metrics through typeurl: register them.
	_ "github.com/containerd/cgroups/v3/cgroup1/stats"
	_ "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// ErrClosed is returned by every call on a closed client.
var ErrClosed = errors.New("client is closed")

// Client is one libcontainerd client and its containerd connection.
type Client struct {
	c8d       *containerd.Client
	lc        types.Client
	namespace string
	stateDir  string
	ctx       context.Context // carries the namespace; cancelled by Close
	cancel    context.CancelFunc
	timeout   time.Duration
	closed    atomic.Bool
	images    imageState    // images.go
	health    healthState   // health.go
	registry  registryState // registry.go
	net       *Networks     // networks_client.go
}

// ConnectOptions are Connect's arguments.
type ConnectOptions struct {
	Address   string
	Namespace string
	StateDir  string        // bundle dirs: <StateDir>/<container id>
	Backend   types.Backend // receives libcontainerd's events; nil for none
	Timeout   time.Duration // bounds every call
}

type noBackend struct{}

func (noBackend) ProcessEvent(string, types.EventType, types.EventInfo) error { return nil }

// Connect dials containerd the way dockerd does, checks that it answers
// (within the timeout, or until ctx ends), and starts libcontainerd's event
// stream.
func Connect(ctx context.Context, o ConnectOptions) (*Client, error) {
	if err := identifiers.Validate(o.Namespace); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if !filepath.IsAbs(o.StateDir) {
		return nil, errdefs.InvalidParameter(fmt.Errorf("state_dir must be an absolute path, got %q", o.StateDir))
	}
	if o.Timeout <= 0 {
		return nil, errdefs.InvalidParameter(errors.New("timeout must be positive"))
	}
	// Without this check grpc would block for the whole timeout on a socket
	// that does not exist.
	sock := strings.TrimPrefix(o.Address, "unix://")
	if _, err := os.Stat(sock); err != nil {
		return nil, errdefs.Unavailable(fmt.Errorf("containerd is not reachable at %s: %w", o.Address, err))
	}
	c8d, err := containerd.New(o.Address,
		containerd.WithDefaultNamespace(o.Namespace),
		// libcontainerd names the runtime of every container it creates, so
		// the client's default is never used; giving one skips the lookup of
		// the namespace's default-runtime label, which New makes without any
		// deadline (a containerd that does not answer would hang it).
		containerd.WithDefaultRuntime(plugin.RuntimeRuncV2),
		containerd.WithTimeout(o.Timeout),
		containerd.WithDialOpts([]grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(defaults.DefaultMaxRecvMsgSize)),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(defaults.DefaultMaxSendMsgSize)),
		}))
	if err != nil {
		return nil, errdefs.Unavailable(fmt.Errorf("cannot connect to containerd at %s: %w", o.Address, err))
	}
	check, cancelCheck := context.WithTimeout(ctx, o.Timeout)
	defer cancelCheck()
	if _, err := c8d.IsServing(check); err != nil {
		c8d.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errdefs.Unavailable(fmt.Errorf("containerd at %s does not answer: %w", o.Address, err))
	}
	server, err := c8d.Version(check)
	if err != nil {
		c8d.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, errdefs.Unavailable(fmt.Errorf("containerd at %s does not tell its version: %w", o.Address, err))
	}
	if err := CheckServerVersion(o.Address, server.Version); err != nil {
		c8d.Close()
		return nil, err
	}
	holdReserve() // for the FIFO calls (fdguard.go); failing here is no error yet
	backend := o.Backend
	if backend == nil {
		backend = noBackend{}
	}
	ctx, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), o.Namespace))
	c := &Client{c8d: c8d, namespace: o.Namespace, stateDir: o.StateDir, ctx: ctx, cancel: cancel, timeout: o.Timeout,
		net: NewNetworks(o.StateDir + "-network")}
	if c.lc, err = libcontainerd.NewClient(ctx, c8d, o.StateDir, o.Namespace, backend); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Close stops the event stream, cancels calls in flight and closes the
// connection. Closing twice is fine.
func (c *Client) Close() {
	if c.closed.Swap(true) {
		return
	}
	c.cancel()
	c.c8d.Close()
}

// Namespace is the containerd namespace the client works in.
func (c *Client) Namespace() string { return c.namespace }

// StateDir is the parent of the client's bundle dirs.
func (c *Client) StateDir() string { return c.stateDir }

// Containerd is the underlying containerd client.
func (c *Client) Containerd() *containerd.Client { return c.c8d }

// bound returns the context for one operation: the client's namespace and
// lifetime, the client's timeout, and ctx's cancellation.
func (c *Client) bound(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if c.closed.Load() {
		return nil, nil, ErrClosed
	}
	op, cancel := context.WithTimeout(c.ctx, c.timeout)
	if ctx.Done() == nil { // context.Background(): nothing more to follow
		return op, cancel, nil
	}
	stop := context.AfterFunc(ctx, cancel)
	return op, func() { stop(); cancel() }, nil
}

// do runs op within bound(ctx).
func (c *Client) do(ctx context.Context, op func(ctx context.Context) error) error {
	ctx, cancel, err := c.bound(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return op(ctx)
}

// get runs op within bound(ctx) and returns its value.
func get[T any](c *Client, ctx context.Context, op func(ctx context.Context) (T, error)) (T, error) {
	var v T
	err := c.do(ctx, func(ctx context.Context) (err error) {
		v, err = op(ctx)
		return err
	})
	return v, err
}

// Version is libcontainerd's Client.Version.
func (c *Client) Version(ctx context.Context) (containerd.Version, error) {
	return get(c, ctx, c.lc.Version)
}

// LoadContainer is libcontainerd's Client.LoadContainer.
func (c *Client) LoadContainer(ctx context.Context, id string) (*Container, error) {
	ctr, err := get(c, ctx, func(ctx context.Context) (types.Container, error) {
		return c.lc.LoadContainer(ctx, id)
	})
	if err != nil {
		return nil, err
	}
	return &Container{ID: id, client: c, ctr: ctr}, nil
}

// NewContainerOptions are NewContainer's arguments.
type NewContainerOptions struct {
	ID             string
	Spec           *specs.Spec
	Shim           string
	RuntimeOptions any // from RuntimeOptions, or nil
	Labels         map[string]string
	Replace        bool // libcontainerd.ReplaceContainer instead of NewContainer
}

// NewContainer is libcontainerd's Client.NewContainer (or ReplaceContainer).
func (c *Client) NewContainer(ctx context.Context, o NewContainerOptions) (*Container, error) {
	// libcontainerd joins the id into the state dir and creates the bundle dir
	// before containerd sees (and would refuse) the id: refuse first only an
	// id whose bundle dir would be outside the state dir (ids.go).
	if err := checkContainerID(o.ID); err != nil {
		return nil, err
	}
	if err := ValidateSpec(o.Spec); err != nil {
		return nil, err
	}
	if err := c.bindVolumes(ctx, o.Spec); err != nil {
		return nil, err
	}
	var opts []containerd.NewContainerOpts
	if o.Labels != nil {
		opts = append(opts, containerd.WithContainerLabels(o.Labels))
	}
	ctr, err := get(c, ctx, func(ctx context.Context) (types.Container, error) {
		// A network the spec asks for (NetworkAnnotation) is set up first:
		// its namespace's path goes into the spec.
		undo, err := c.setupNetwork(ctx, o.ID, o.Spec, o.Replace)
		if err != nil {
			return nil, err
		}
		ctr, err := c.newContainer(ctx, o, opts)
		if err != nil {
			undo()
		}
		return ctr, err
	})
	if err != nil {
		return nil, err
	}
	return &Container{ID: o.ID, client: c, ctr: ctr}, nil
}

func (c *Client) newContainer(ctx context.Context, o NewContainerOptions, opts []containerd.NewContainerOpts) (types.Container, error) {
	if o.Replace {
		return libcontainerd.ReplaceContainer(ctx, c.lc, o.ID, o.Spec, o.Shim, o.RuntimeOptions, opts...)
	}
	return c.lc.NewContainer(ctx, o.ID, o.Spec, o.Shim, o.RuntimeOptions, opts...)
}
