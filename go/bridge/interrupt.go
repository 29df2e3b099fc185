package bridge

import (
	"context"
	"sync"

	"golang.org/x/sys/unix"
)

// Interrupts cancel the calls the caller marked interruptible (Python marks
// its main thread's): a SIGINT hook in C writes to a pipe, and a goroutine
// here cancels every such call in flight, so that a Ctrl-C reaches Python
// within milliseconds instead of after the call's timeout.
var interrupts struct {
	once  sync.Once
	fd    int // the pipe's write end, for the hook; -1 if it could not be made
	mu    sync.Mutex
	next  uint64
	calls map[uint64]context.CancelFunc
}

// InterruptFD is the write end of the interrupt pipe (made on first use).
func InterruptFD() int {
	interrupts.once.Do(func() {
		interrupts.fd = -1
		interrupts.calls = map[uint64]context.CancelFunc{}
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
			return
		}
		interrupts.fd = p[1]
		// Blocking reads on the read end, so that this goroutine sleeps.
		if err := unix.SetNonblock(p[0], false); err != nil {
			return
		}
		go func() {
			buf := make([]byte, 64)
			for {
				if n, err := unix.Read(p[0], buf); n <= 0 && err != unix.EINTR {
					return
				}
				interrupts.mu.Lock()
				for _, cancel := range interrupts.calls {
					cancel()
				}
				interrupts.mu.Unlock()
			}
		}()
	})
	return interrupts.fd
}

// Interruptible derives a context that an interrupt cancels; done must be
// called when the call returns.
func Interruptible(parent context.Context) (ctx context.Context, done func()) {
	ctx, cancel := context.WithCancel(parent)
	interrupts.mu.Lock()
	if interrupts.calls == nil {
		interrupts.mu.Unlock()
		return ctx, cancel
	}
	interrupts.next++
	id := interrupts.next
	interrupts.calls[id] = cancel
	interrupts.mu.Unlock()
	return ctx, func() {
		interrupts.mu.Lock()
		delete(interrupts.calls, id)
		interrupts.mu.Unlock()
		cancel()
	}
}
