package core

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	binDir string // the PATH entry this daemon added ("" for PATH's own containerd)
}

// ShimBinary is the runc shim that containerd looks up on its PATH first
// (then beside its own executable) for the io.containerd.runc.v2 runtime.
const ShimBinary = "containerd-shim-runc-v2"

// StartDaemon starts containerd (root/daemon, state/daemon, socket
// state/containerd.sock) and waits until it serves. containerd is the binary
// to run ("" for the one on PATH, as dockerd).
//
// Moby's supervisor runs `containerd` found on PATH (exec.Command with a bare
// name) and hands containerd this process's environment, where containerd
// finds its shims: a chosen binary is linked as state/bin/containerd, with
// the containerd-shim-runc-v2 beside it if there is one, and state/bin goes
// first on this process's PATH while the daemon runs (restarts must find the
// same binary). PATH is one per process: a second daemon with another binary
// is refused while the first runs.
func StartDaemon(root, state, logLevel, containerd string) (*Daemon, error) {
	for _, dir := range []struct{ name, path string }{{"root_dir", root}, {"state_dir", state}} {
		if !filepath.IsAbs(dir.path) {
			return nil, errdefs.InvalidParameter(fmt.Errorf("%s must be an absolute path, got %q", dir.name, dir.path))
		}
	}
	binDir := ""
	if containerd != "" {
		var err error
		if binDir, err = linkBinaries(state, containerd); err != nil {
			return nil, err
		}
		if err := pathAcquire(binDir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		pathRelease(binDir)
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
		pathRelease(binDir)
		return nil, err
	}
	return &Daemon{d: d, cancel: cancel, binDir: binDir}, nil
}

// linkBinaries checks the containerd binary and makes state/bin with
// containerd (and the shim beside it, if any) linked in.
func linkBinaries(state, containerd string) (string, error) {
	if !filepath.IsAbs(containerd) {
		return "", errdefs.InvalidParameter(fmt.Errorf("containerd must be an absolute path, got %q", containerd))
	}
	fi, err := os.Stat(containerd)
	if err != nil {
		return "", errdefs.InvalidParameter(fmt.Errorf("containerd binary: %w", err))
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", errdefs.InvalidParameter(fmt.Errorf("containerd binary %s is not an executable file", containerd))
	}
	binDir := filepath.Join(state, "bin")
	if err := os.MkdirAll(binDir, 0o700); err != nil {
		return "", err
	}
	links := map[string]string{"containerd": containerd}
	if shim := filepath.Join(filepath.Dir(containerd), ShimBinary); isExecutable(shim) {
		links[ShimBinary] = shim
	}
	for _, name := range []string{"containerd", ShimBinary} {
		link := filepath.Join(binDir, name)
		if err := os.Remove(link); err != nil && !os.IsNotExist(err) {
			return "", err
		}
		if target, ok := links[name]; ok {
			if err := os.Symlink(target, link); err != nil {
				return "", err
			}
		}
	}
	return binDir, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// This process's PATH entries added for chosen containerd binaries (one dir
// at a time, counted per daemon using it).
var pathState struct {
	sync.Mutex
	dir   string
	users int
	saved string
}

func pathAcquire(dir string) error {
	pathState.Lock()
	defer pathState.Unlock()
	if pathState.users > 0 {
		if same, _ := sameBinary(pathState.dir, dir); !same {
			return errdefs.Conflict(fmt.Errorf("another containerd (%s) is supervised by this process:"+
				" Moby's supervisor finds containerd on PATH, which is one per process",
				mustReadlink(filepath.Join(pathState.dir, "containerd"))))
		}
		pathState.users++
		return nil
	}
	pathState.saved = os.Getenv("PATH")
	rest := []string{dir}
	for _, p := range filepath.SplitList(pathState.saved) {
		if p != dir {
			rest = append(rest, p)
		}
	}
	if err := os.Setenv("PATH", strings.Join(rest, string(os.PathListSeparator))); err != nil {
		return err
	}
	pathState.dir, pathState.users = dir, 1
	return nil
}

func pathRelease(dir string) {
	if dir == "" {
		return
	}
	pathState.Lock()
	defer pathState.Unlock()
	if pathState.users == 0 {
		return
	}
	pathState.users--
	if pathState.users == 0 {
		_ = os.Setenv("PATH", pathState.saved)
		pathState.dir = ""
	}
}

// sameBinary: whether two bin dirs link the same containerd and shim.
func sameBinary(a, b string) (bool, error) {
	for _, name := range []string{"containerd", ShimBinary} {
		if mustReadlink(filepath.Join(a, name)) != mustReadlink(filepath.Join(b, name)) {
			return false, nil
		}
	}
	return true, nil
}

func mustReadlink(path string) string {
	target, _ := os.Readlink(path)
	return target
}

// Address is the containerd socket path.
func (d *Daemon) Address() string { return d.d.Address() }

// Stop asks containerd to quit and waits for the supervisor to finish.
func (d *Daemon) Stop(timeout time.Duration) error {
	d.cancel()
	err := d.d.WaitTimeout(timeout)
	if d.binDir != "" {
		pathRelease(d.binDir)
		d.binDir = ""
	}
	return err
}
