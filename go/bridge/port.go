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
	out    Outbox        // nil: completions wait in done for Take
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

// Outbox holds a port's completions instead of Take: memory the reader
// takes them from without calling into Go (the C ABI's submission ring).
type Outbox interface {
	// Put stores c (or copies it: c's data is not kept). first: nothing was
	// waiting, so the reader must be woken; ok false: c could not be stored.
	Put(c Completion) (first, ok bool)
}

// SetOutbox delivers completions to o from now on, those waiting first;
// nil goes back to Take. The caller keeps o usable until it is replaced.
func (p *Port) SetOutbox(o Outbox) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.out = o
	if o == nil || p.closed {
		return
	}
	waiting := p.done
	p.done = nil
	for _, c := range waiting {
		p.store(c)
	}
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
	p.deliver(c)
}

// Refuse delivers call id's completion with err (never nil) without running
// anything: a call queued for the port (a submission ring) that could not
// be started. It must not be in flight.
func (p *Port) Refuse(id uint64, err error) {
	c := Completion{Call: id, Code: Classify(err), Result: Result{Data: []byte(err.Error())}}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.deliver(c)
}

// Closed reports whether Close was called.
func (p *Port) Closed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// deliver queues c and wakes the reader; called with p.mu held, which it
// releases.
func (p *Port) deliver(c Completion) {
	p.store(c)
	p.mu.Unlock()
}

// store queues c (p.mu held) and wakes the reader if nothing was waiting:
// the reader takes all, so one wake-up serves a batch. The write is made
// under the lock, so that Close cannot close the fd (and the number be
// reused) in between; the other calls' completions wait that long.
func (p *Port) store(c Completion) {
	first := false
	if p.out != nil {
		var ok bool
		first, ok = p.out.Put(c)
		if !ok { // out of memory: nobody will receive it
			c.Result.discard()
			return
		}
	} else {
		p.done = append(p.done, c)
		first = len(p.done) == 1
	}
	if first {
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
	p.out = nil
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
