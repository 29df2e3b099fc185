package bridge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Interrupts cancel the calls the caller marked interruptible (Python marks
// its main thread's): a SIGINT hook in C writes to a pipe, and a goroutine
// here cancels them, so that a Ctrl-C reaches Python within milliseconds
// instead of after the call's timeout.
//
// Every interruptible call runs under one shared context, which an interrupt
// cancels and replaces: a call pays one atomic load, not a context and a
// registration of its own (those were most of a short call's cost).
var interrupts struct {
	once    sync.Once
	fd      int // the pipe's write end, for the hook; -1 if it could not be made
	current atomic.Pointer[interruptScope]
}

type interruptScope struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newInterruptScope() *interruptScope {
	ctx, cancel := context.WithCancel(context.Background())
	return &interruptScope{ctx, cancel}
}

// InterruptFD is the write end of the interrupt pipe (made on first use).
func InterruptFD() int {
	interrupts.once.Do(func() {
		interrupts.fd = -1
		interrupts.current.Store(newInterruptScope())
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
				Interrupt()
			}
		}()
	})
	return interrupts.fd
}

// Interrupt cancels every interruptible call in flight; later calls are not
// affected.
func Interrupt() {
	// Swap hands each scope to exactly one caller, who cancels it.
	if old := interrupts.current.Swap(newInterruptScope()); old != nil {
		old.cancel()
	}
}

// InterruptibleContext is the context an interruptible call runs under (a
// plain background context until InterruptFD has been called).
func InterruptibleContext() context.Context {
	if s := interrupts.current.Load(); s != nil {
		return s.ctx
	}
	return context.Background()
}

// The SIGINT hook is checked (a sigaction system call) at most every
// hookRecheck: Python re-installs its own handler only when
// signal.signal(SIGINT, ...) is called, and a handler set within that window
// still gets its KeyboardInterrupt, only when the call returns.
const hookRecheck = 10 * time.Millisecond

var (
	hookEpoch     = time.Now()
	hookCheckedAt atomic.Int64 // ns since hookEpoch; 0: never
)

// SIGINTHookDue reports whether this call should check the SIGINT hook.
func SIGINTHookDue() bool {
	now := int64(time.Since(hookEpoch)) + 1
	last := hookCheckedAt.Load()
	if last != 0 && now-last < int64(hookRecheck) {
		return false
	}
	return hookCheckedAt.CompareAndSwap(last, now)
}
