package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Running out of file descriptors while libcontainerd opens a process's
// FIFOs can stall a call until some other fd of the process is closed,
// whatever its context says. containerd's cio.openFifos (called by Moby's
// createIO with context.Background()) opens stdout's read end on a
// goroutine, which holds an fd while it waits in open(2) for the shim to
// open the write end. If that goroutine takes the last free fd, opening
// stderr fails with EMFILE, and openFifos' cleanup calls fifo.Close on
// stdout, which unblocks the pending open by opening the other end itself:
// that open fails with EMFILE too, and Close retries it in a loop (with
// runtime.Gosched, burning a core) until an fd is freed elsewhere, e.g. when
// an earlier container exits and its output is drained. The same loop runs
// when a failed create or a cancelled attach closes a FIFO whose open is
// pending. go/core/fdguard_test.go reproduces it with containerd's own cio.
//
// Two guards, neither touching Moby's code:
//   - fdHeadroom: a FIFO call first checks that the fds it will need are
//     free and fails at once with EMFILE otherwise, so a single thread never
//     gets into openFifos at the limit;
//   - a reserve fd, held from Connect on and closed when a FIFO call's
//     context ends: with one fd free the loop's open succeeds and the call
//     returns its EMFILE error, so a call that raced other threads for the
//     last fds ends at its timeout (or cancellation), not when some
//     unrelated fd happens to close.
var reserve struct {
	mu sync.Mutex
	fd int // -1: not held
}

func init() { reserve.fd = -1 }

// holdReserve opens the reserve fd if it is not held; it fails only when no
// fd is free.
func holdReserve() error {
	reserve.mu.Lock()
	defer reserve.mu.Unlock()
	if reserve.fd >= 0 {
		return nil
	}
	fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	reserve.fd = fd
	return nil
}

// releaseReserve closes the reserve fd, freeing one fd for whoever needs it.
func releaseReserve() {
	reserve.mu.Lock()
	defer reserve.mu.Unlock()
	if reserve.fd >= 0 {
		unix.Close(reserve.fd)
		reserve.fd = -1
	}
}

// fifoFDs is what opening a process's FIFOs holds in this process: an O_PATH
// handle and the open end of each of stdout, stderr (none with a terminal)
// and, withStdin, stdin. NewTask and AttachTask do not see the spec's
// terminal flag and pass false: at worst they ask 2 fds more than needed.
func fifoFDs(withStdin, terminal bool) int {
	n := 2
	if !terminal {
		n += 2
	}
	if withStdin {
		n += 2
	}
	return n
}

// fdHeadroom fails with EMFILE unless n fds are free (besides the reserve,
// which it takes back first if it was released). It opens them to find out:
// counting /proc/self/fd would miss fds that pending opens have claimed.
func fdHeadroom(n int) error {
	if err := holdReserve(); err != nil {
		return fmt.Errorf("opening the stdio FIFOs needs %d file descriptors, none free: %w", n, err)
	}
	probes := make([]int, 0, n)
	defer func() {
		for _, fd := range probes {
			unix.Close(fd)
		}
	}()
	for range n {
		fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
			return fmt.Errorf("opening the stdio FIFOs needs %d file descriptors, only %d free: %w", n, len(probes), err)
		}
		if err != nil {
			return nil // not a question of fds: let the call go its way
		}
		probes = append(probes, fd)
	}
	return nil
}

// withFIFOs runs op, which opens FIFOs and ends with ctx: after
// fdHeadroom(n), and with the reserve fd released if ctx ends first.
func withFIFOs[T any](ctx context.Context, n int, op func(ctx context.Context) (T, error)) (T, error) {
	if err := fdHeadroom(n); err != nil {
		var zero T
		return zero, err
	}
	return guardFIFOs(ctx, op)
}

// guardFIFOs runs op with the reserve fd released if ctx ends first.
func guardFIFOs[T any](ctx context.Context, op func(ctx context.Context) (T, error)) (T, error) {
	stop := context.AfterFunc(ctx, releaseReserve)
	defer stop()
	return op(ctx)
}
