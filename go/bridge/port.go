package bridge

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Port runs calls in the background, each with its own context, and hands
// their completions back in order of completion. One eventfd becomes
// readable whenever completions are waiting, so an event loop watches a
// single fd for any number of calls in flight.
//
// Calls run on the port's workers: goroutines that serve one call after
// another, so that a call reuses a stack that has already grown to a gRPC
// call's depth instead of starting a goroutine whose stack grows (and is
// copied) on every call. A call that finds no idle worker starts one; a
// worker idle for workerIdle ends, and so do idle workers when the port
// closes (so a leak check sees them go within its settle time).
type Port struct {
	mu     sync.Mutex
	fd     int
	done   []Completion
	calls  map[uint64]*background
	closed bool
	jobs   chan job      // unbuffered: a send succeeds only to an idle worker
	quit   chan struct{} // closed by Close
	live   atomic.Int64  // workers (for tests)
}

// workerIdle is how long a worker waits for another call before it ends.
const workerIdle = 500 * time.Millisecond

type background struct {
	cancel    context.CancelFunc
	abandoned bool // cancelled by the caller: its completion is dropped
}

type job struct {
	id  uint64
	b   *background
	ctx context.Context
	fn  func(ctx context.Context) (Result, error)
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
	return &Port{fd: fd, calls: map[uint64]*background{}, jobs: make(chan job), quit: make(chan struct{})}, nil
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
	j := job{id, b, ctx, fn}
	select {
	case p.jobs <- j: // an idle worker took it
	default:
		p.live.Add(1)
		go p.work(j)
	}
	return nil
}

// work runs j, then the calls handed to it, until it has been idle for
// workerIdle or the port closes.
func (p *Port) work(j job) {
	defer p.live.Add(-1)
	var idle *time.Timer
	for {
		res, err := Protect(j.ctx, j.fn)
		j.b.cancel()
		p.complete(j.id, j.b, res, err)
		if idle == nil {
			idle = time.NewTimer(workerIdle)
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case j = <-p.jobs:
		case <-idle.C:
			return
		case <-p.quit:
			idle.Stop()
			return
		}
	}
}

func (p *Port) complete(id uint64, b *background, res Result, err error) {
	c := Completion{Call: id, Code: Classify(err), Result: res}
	if err != nil {
		c.Result = Result{Data: []byte(err.Error())}
	}
	p.mu.Lock()
	delete(p.calls, id)
	if b.abandoned || p.closed {
		p.mu.Unlock()
		res.discard()
		return
	}
	p.done = append(p.done, c)
	// The reader takes all: one wake-up per batch. The write is made under
	// the lock, so that Close cannot close the fd (and the number be reused)
	// in between; the other calls' completions wait that long.
	if len(p.done) == 1 {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(p.fd, one[:])
	}
	p.mu.Unlock()
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

// noData marks a record without data in Take's format.
const noData = ^uint64(0)

// Take pops up to max completions, oldest first, packed into one buffer
// (pylibctrd.h, pylibctrd_port_take): per completion its call, number,
// status and data length (noData: nil), then the data padded to 8 bytes.
// It returns how many it took (nil: none).
func (p *Port) Take(max int) (int, []byte) {
	p.mu.Lock()
	n := min(max, len(p.done))
	taken := make([]Completion, n)
	copy(taken, p.done[:n])
	clear(p.done[:n])
	p.done = p.done[n:]
	p.mu.Unlock()
	if n == 0 {
		return 0, nil
	}
	size := 0
	for _, c := range taken {
		size += 32 + (len(c.Result.Data)+7)&^7
	}
	buf := make([]byte, 0, size)
	for _, c := range taken {
		length := uint64(len(c.Result.Data))
		if c.Result.Data == nil {
			length = noData
		}
		buf = binary.NativeEndian.AppendUint64(buf, c.Call)
		buf = binary.NativeEndian.AppendUint64(buf, c.Result.Number)
		buf = binary.NativeEndian.AppendUint64(buf, uint64(int64(c.Code)))
		buf = binary.NativeEndian.AppendUint64(buf, length)
		buf = append(buf, c.Result.Data...)
		buf = append(buf, make([]byte, (8-len(c.Result.Data)%8)%8)...)
	}
	return n, buf
}

// Close cancels and abandons every call in flight, drops undelivered
// completions, ends idle workers (busy ones after their call) and closes
// the eventfd. Closing twice is fine.
func (p *Port) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	close(p.quit) // idle workers end; busy ones after their call
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
