package bridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Port runs calls in the background, each on its own goroutine with its own
// context, and hands their completions back in order of completion. One
// eventfd becomes readable whenever completions are waiting, so an event
// loop watches a single fd for any number of calls in flight.
type Port struct {
	mu     sync.Mutex
	fd     int
	done   []Completion
	calls  map[uint64]*background
	closed bool
}

type background struct {
	cancel    context.CancelFunc
	abandoned bool // cancelled by the caller: its completion is dropped
}

// Completion is the outcome of one background call.
type Completion struct {
	Call   uint64
	Code   Code
	Result Result // on error, Data holds the message
}

// NewPort makes a port and its eventfd.
func NewPort() (*Port, error) {
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &Port{fd: fd, calls: map[uint64]*background{}}, nil
}

// FD is the eventfd that is readable while completions wait.
func (p *Port) FD() int { return p.fd }

// Go starts fn as call id. Its context ends when fn returns, when the call
// is cancelled, or when the port closes.
func (p *Port) Go(id uint64, fn func(ctx context.Context) (Result, error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return Errorf(CodeClosed, "completion port is closed")
	case id == 0 || p.calls[id] != nil:
		return Errorf(CodeInvalidParameter, "call id %d is zero or already in flight", id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel}
	p.calls[id] = b
	go func() {
		res, err := Protect(ctx, fn)
		cancel()
		p.complete(id, b, res, err)
	}()
	return nil
}

func (p *Port) complete(id uint64, b *background, res Result, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.calls, id)
	if b.abandoned || p.closed {
		res.discard()
		return
	}
	c := Completion{Call: id, Code: Classify(err), Result: res}
	if err != nil {
		c.Result = Result{Data: []byte(err.Error())}
	}
	p.done = append(p.done, c)
	if len(p.done) == 1 { // the reader drains all; one wake-up per batch
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(p.fd, one[:])
	}
}

// Cancel cancels call id's context and abandons it: whatever it made (a
// handle) is released when it returns, and no completion is delivered.
// It reports whether the call was still in flight; one that already
// completed is left alone (its completion is, or will be, in Next).
func (p *Port) Cancel(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.calls[id]
	if b == nil {
		return false
	}
	b.abandoned = true
	b.cancel()
	return true
}

// Next pops the oldest completion.
func (p *Port) Next() (Completion, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.done) == 0 {
		return Completion{}, false
	}
	c := p.done[0]
	p.done[0] = Completion{}
	p.done = p.done[1:]
	return c, true
}

// Close cancels and abandons every call in flight, drops undelivered
// completions and closes the eventfd. Closing twice is fine.
func (p *Port) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, b := range p.calls {
		b.abandoned = true
		b.cancel()
	}
	for _, c := range p.done {
		c.Result.discard()
	}
	p.done = nil
	unix.Close(p.fd)
}

// Protect runs fn, turning a panic into a PANIC error.
func Protect(ctx context.Context, fn func(ctx context.Context) (Result, error)) (res Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = Result{}, Errorf(CodePanic, "pylibctrd: Go panic: %v", r)
		}
	}()
	res, err = fn(ctx)
	return res, withFDLimit(err)
}

// Goroutines is the number of goroutines (for leak checks).
func Goroutines() int { return runtime.NumGoroutine() }

// GoroutineStacks is every goroutine's id, state and stack as a panic prints
// them, but the caller's own (for leak checks: ids are never reused, so a
// goroutine that outlives a call is told apart from one that ended meanwhile
// and from another that began).
func GoroutineStacks() []byte {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			// runtime.Stack prints the calling goroutine first.
			if i := bytes.Index(buf[:n], []byte("\n\n")); i >= 0 {
				return buf[i+2 : n]
			}
			return nil
		}
		buf = make([]byte, 2*len(buf))
	}
}
