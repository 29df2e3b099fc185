package core

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/libcontainerd/supervisor"
)

// Daemon is a containerd started and supervised by Moby's supervisor, as
// dockerd does when it is given no containerd address. The supervisor gives
// containerd this process's os.Stdout and os.Stderr.
type Daemon struct {
	d      supervisor.Daemon
	cancel context.CancelFunc
}

// StartDaemon starts containerd (root/daemon, state/daemon, socket
// state/containerd.sock) and waits until it serves.
func StartDaemon(root, state, logLevel string) (*Daemon, error) {
	for _, dir := range []struct{ name, path string }{{"root_dir", root}, {"state_dir", state}} {
		if !filepath.IsAbs(dir.path) {
			return nil, errdefs.InvalidParameter(fmt.Errorf("%s must be an absolute path, got %q", dir.name, dir.path))
		}
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	opts := []supervisor.DaemonOpt{supervisor.WithCRIDisabled()}
	if logLevel != "" {
		opts = append(opts, supervisor.WithLogLevel(logLevel))
	}
	d, err := supervisor.Start(ctx, root, state, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	return &Daemon{d: d, cancel: cancel}, nil
}

// Address is the containerd socket path.
func (d *Daemon) Address() string { return d.d.Address() }

// Stop asks containerd to quit and waits for the supervisor to finish.
func (d *Daemon) Stop(timeout time.Duration) error {
	d.cancel()
	return d.d.WaitTimeout(timeout)
}
