package core

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/defaults"
	"github.com/containerd/containerd/identifiers"
	"github.com/containerd/containerd/namespaces"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/libcontainerd"
	"github.com/docker/docker/libcontainerd/types"
	"github.com/pkg/errors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	// Task.Stats unmarshals cgroup metrics through typeurl: register them.
	_ "github.com/containerd/cgroups/v3/cgroup1/stats"
	_ "github.com/containerd/cgroups/v3/cgroup2/stats"
)

// Client is one libcontainerd client (and its containerd connection).
type Client struct {
	Handle  uint64
	c8d     *containerd.Client
	lc      types.Client
	ctx     context.Context // carries the namespace; cancelled by Close
	cancel  context.CancelFunc
	timeout time.Duration
	events  *eventBackend
	closed  atomic.Bool
}

// ConnectOptions are Client.connect's arguments.
type ConnectOptions struct {
	Address   string
	Namespace string
	StateDir  string
	EventsKey uint64 // 0: no Backend; else passed back with every event
	Timeout   time.Duration
}

// Connect dials containerd the way dockerd does and starts libcontainerd's
// event stream. The returned client is registered; its handle is c.Handle.
func Connect(o ConnectOptions) (*Client, error) {
	if err := identifiers.Validate(o.Namespace); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if !filepath.IsAbs(o.StateDir) {
		return nil, Errorf(CodeInvalidParameter, "state_dir must be an absolute path, got %q", o.StateDir)
	}
	if o.Timeout <= 0 {
		return nil, Errorf(CodeInvalidParameter, "timeout must be positive")
	}
	// Without this check grpc would block for the whole timeout on a socket
	// that does not exist.
	sock := strings.TrimPrefix(o.Address, "unix://")
	if _, err := os.Stat(sock); err != nil {
		return nil, errdefs.Unavailable(errors.Wrapf(err, "containerd is not reachable at %s", o.Address))
	}
	c8d, err := containerd.New(o.Address,
		containerd.WithDefaultNamespace(o.Namespace),
		containerd.WithTimeout(o.Timeout),
		containerd.WithDialOpts([]grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(defaults.DefaultMaxRecvMsgSize)),
			grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(defaults.DefaultMaxSendMsgSize)),
		}))
	if err != nil {
		return nil, errdefs.Unavailable(errors.Wrapf(err, "cannot connect to containerd at %s", o.Address))
	}
	ctx, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), o.Namespace))
	c := &Client{c8d: c8d, ctx: ctx, cancel: cancel, timeout: o.Timeout}
	c.Handle = Handles.Put(c)
	c.events = &eventBackend{key: o.EventsKey}
	lc, err := libcontainerd.NewClient(ctx, c8d, o.StateDir, o.Namespace, c.events)
	if err != nil {
		c.Close(false)
		Handles.Release(c.Handle)
		return nil, err
	}
	c.lc = lc
	return c, nil
}

// Close stops the event stream and the connection. With wait, it returns only
// once no event callback for this client is running (or 10s have passed).
func (c *Client) Close(wait bool) {
	if c.closed.Swap(true) {
		return
	}
	c.events.gate.close(wait, 10*time.Second)
	c.cancel()
	c.c8d.Close()
}

// checkOpen is the one place a closed client is refused.
func (c *Client) checkOpen() error {
	if c.closed.Load() {
		return Errorf(CodeClosed, "client is closed")
	}
	return nil
}

// call returns a context for one operation, bounded by the client timeout.
func (c *Client) call() (context.Context, context.CancelFunc, error) {
	if err := c.checkOpen(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	return ctx, cancel, nil
}

// Do runs op with a fresh bounded context.
func (c *Client) Do(op func(ctx context.Context) error) error {
	ctx, cancel, err := c.call()
	if err != nil {
		return err
	}
	defer cancel()
	return op(ctx)
}

// Version is containerd's version and revision, NUL-separated: the one
// answer simple enough that JSON would be most of its cost in Python.
func (c *Client) Version() ([]byte, error) {
	var v containerd.Version
	err := c.Do(func(ctx context.Context) (err error) {
		v, err = c.lc.Version(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return []byte(v.Version + "\x00" + v.Revision), nil
}

// LoadContainer wraps libcontainerd's LoadContainer.
func (c *Client) LoadContainer(id string) (*Container, error) {
	var ctr types.Container
	err := c.Do(func(ctx context.Context) (err error) {
		ctr, err = c.lc.LoadContainer(ctx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Container{client: c, ctr: ctr, ID: id}, nil
}

// NewContainerOptions are NewContainer's arguments as they cross the ABI.
type NewContainerOptions struct {
	ID             string
	Spec           []byte // OCI runtime spec, JSON
	Shim           string
	RuntimeOptions []byte // JSON object, or empty for none
	Labels         []byte // JSON object of strings, or empty
	Replace        bool   // use libcontainerd.ReplaceContainer
}

// NewContainer wraps libcontainerd's NewContainer (or ReplaceContainer).
func (c *Client) NewContainer(o NewContainerOptions) (*Container, error) {
	spec, err := decodeSpec(o.Spec)
	if err != nil {
		return nil, err
	}
	runtimeOptions, err := decodeRuntimeOptions(o.Shim, o.RuntimeOptions)
	if err != nil {
		return nil, err
	}
	var opts []containerd.NewContainerOpts
	if len(o.Labels) > 0 {
		var labels map[string]string
		if err := json.Unmarshal(o.Labels, &labels); err != nil {
			return nil, Errorf(CodeInvalidParameter, "labels must map strings to strings: %v", err)
		}
		opts = append(opts, containerd.WithContainerLabels(labels))
	}
	var ctr types.Container
	err = c.Do(func(ctx context.Context) (err error) {
		if o.Replace {
			ctr, err = libcontainerd.ReplaceContainer(ctx, c.lc, o.ID, spec, o.Shim, runtimeOptions, opts...)
		} else {
			ctr, err = c.lc.NewContainer(ctx, o.ID, spec, o.Shim, runtimeOptions, opts...)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Container{client: c, ctr: ctr, ID: o.ID}, nil
}
