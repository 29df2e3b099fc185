package bridge

import (
	"context"
	"sync"
	"time"

	"pylibctrd/core"
)

// Capture drains a process's stdout and stderr into memory on goroutines,
// for Python's stdio.Capture. Python threads blocked in Go reads would each
// hold a locked OS thread that Go must hand its P to and back at every
// wake-up; while runc and the shim compete for this machine's cores those
// hand-offs cost exec ~4 ms (benchmarks/exec_timeline.py). Goroutines pay
// nothing of the kind, as in a Go program.
type Capture struct {
	mu   sync.Mutex
	out  [2][]byte // stdout, stderr so far
	done chan struct{}
}

// NewCapture reads each non-nil stream to its end (and then closes it).
func NewCapture(stdout, stderr *core.Stream) *Capture {
	c := &Capture{done: make(chan struct{})}
	var wg sync.WaitGroup
	for i, s := range [2]*core.Stream{stdout, stderr} {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.drain(i, s)
		}()
	}
	go func() { wg.Wait(); close(c.done) }()
	return c
}

func (c *Capture) drain(i int, s *core.Stream) {
	defer s.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := s.Read(buf) // 0: end of stream, also once the task closed it
		if n > 0 {
			c.mu.Lock()
			c.out[i] = append(c.out[i], buf[:n]...)
			c.mu.Unlock()
		}
		if n == 0 || err != nil {
			return
		}
	}
}

// Output is a copy of what stream i (0 stdout, 1 stderr) gave so far.
func (c *Capture) Output(i int) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte{}, c.out[i]...)
}

// Wait waits until every stream ended (true), timeout passed (false; a
// negative timeout never passes) or ctx ended (its error).
func (c *Capture) Wait(ctx context.Context, timeout time.Duration) (bool, error) {
	return core.WaitClosed(ctx, c.done, timeout)
}

// TakeStream removes stream handle h from the registry and returns its
// stream (nil for handle 0): the caller owns it from now on.
func TakeStream(h uint64) (*core.Stream, error) {
	if h == 0 {
		return nil, nil
	}
	Handles.mu.Lock()
	defer Handles.mu.Unlock()
	s, ok := Handles.objs[h].(*core.Stream)
	if !ok {
		return nil, Errorf(CodeInvalidHandle, "invalid handle %d: not a live stream", h)
	}
	delete(Handles.objs, h)
	return s, nil
}
