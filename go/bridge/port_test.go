package bridge

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

// settled waits until p has at most n workers.
func settled(p *Port, n int64, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if p.live.Load() <= n {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

func TestPortCompletesEveryCallAndPacksThem(t *testing.T) {
	p, err := NewPort()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const calls = 1000
	for i := uint64(1); i <= calls; i++ {
		data := []byte(nil)
		if i%2 == 0 {
			data = []byte("abc")[:i%4]
		}
		if err := p.Go(i, func(context.Context) (Result, error) { return Result{Number: i, Data: data}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uint64]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(seen) < calls && time.Now().Before(deadline) {
		n, buf := p.Take(300)
		for k := 0; k < n; k++ {
			call, number := binary.NativeEndian.Uint64(buf), binary.NativeEndian.Uint64(buf[8:])
			status, size := int64(binary.NativeEndian.Uint64(buf[16:])), binary.NativeEndian.Uint64(buf[24:])
			buf = buf[32:]
			if call != number || status != 0 || seen[call] {
				t.Fatalf("record %d: number %d status %d (seen %v)", call, number, status, seen[call])
			}
			seen[call] = true
			switch {
			case call%2 == 1 && size != noData:
				t.Fatalf("call %d: want no data, got length %d", call, size)
			case call%2 == 0 && size != call%4:
				t.Fatalf("call %d: want %d bytes, got %d", call, call%4, size)
			}
			if size != noData {
				buf = buf[(size+7)&^7:]
			}
		}
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	if len(seen) != calls {
		t.Fatalf("%d of %d calls completed", len(seen), calls)
	}
}

func TestPortWorkersEndWhenIdleAndAtClose(t *testing.T) {
	p, err := NewPort()
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	for i := uint64(1); i <= 50; i++ {
		p.Go(i, func(ctx context.Context) (Result, error) { <-release; return Result{}, nil })
	}
	if n := p.live.Load(); n != 50 {
		t.Fatalf("50 blocked calls run on %d workers", n)
	}
	close(release)
	if !settled(p, 0, 10*workerIdle) {
		t.Fatalf("idle workers did not end: %d left", p.live.Load())
	}
	// Workers waiting for calls end at Close, at once.
	for i := uint64(100); i < 110; i++ {
		p.Go(i, func(ctx context.Context) (Result, error) { return Result{}, nil })
	}
	time.Sleep(10 * time.Millisecond)
	p.Close()
	if !settled(p, 0, workerIdle/2) {
		t.Fatalf("workers outlived Close: %d left", p.live.Load())
	}
}

func TestPortCloseCancelsCallsInFlight(t *testing.T) {
	p, err := NewPort()
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	p.Go(1, func(ctx context.Context) (Result, error) {
		<-ctx.Done()
		ended <- ctx.Err()
		return Result{}, ctx.Err()
	})
	p.Close()
	select {
	case err := <-ended:
		if err != context.Canceled {
			t.Fatalf("context ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not cancel the call")
	}
	if n, _ := p.Take(10); n != 0 {
		t.Fatalf("a closed port delivered %d completions", n)
	}
}

// outbox records what a port puts in it (the C ABI's ring in production).
type outbox struct {
	mu     sync.Mutex
	got    []Completion
	firsts int
}

func (o *outbox) Put(c Completion) (bool, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	first := len(o.got) == 0
	if first {
		o.firsts++
	}
	o.got = append(o.got, Completion{Call: c.Call, Code: c.Code,
		Result: Result{Number: c.Result.Number, Data: append([]byte(nil), c.Result.Data...)}})
	return first, true
}

func (o *outbox) take() []Completion {
	o.mu.Lock()
	defer o.mu.Unlock()
	got := o.got
	o.got = nil
	return got
}

func TestPortOutboxTakesWaitingAndLaterCompletions(t *testing.T) {
	p, err := NewPort()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	release := make(chan struct{})
	p.Go(1, func(context.Context) (Result, error) { return Result{Number: 1}, nil })
	p.Go(2, func(context.Context) (Result, error) { <-release; return Result{Number: 2, Data: []byte("two")}, nil })
	waitFor := func(what string, ok func() bool) {
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("call 1's completion", func() bool { p.mu.Lock(); defer p.mu.Unlock(); return len(p.done) == 1 })
	o := &outbox{}
	p.SetOutbox(o) // call 1's completion moves; Take has nothing from now on
	if n, _ := p.Take(10); n != 0 {
		t.Fatalf("Take delivered %d completions after SetOutbox", n)
	}
	p.Refuse(3, Errorf(CodeInvalidParameter, "no ring call 9"))
	close(release)
	var got []Completion
	waitFor("three completions", func() bool { got = append(got, o.take()...); return len(got) == 3 })
	want := map[uint64]string{1: "", 2: "two", 3: "no ring call 9"}
	for _, c := range got {
		if string(c.Result.Data) != want[c.Call] {
			t.Fatalf("call %d: data %q", c.Call, c.Result.Data)
		}
		if (c.Call == 3) != (c.Code == CodeInvalidParameter) {
			t.Fatalf("call %d: code %d", c.Call, c.Code)
		}
	}
	// Detached, completions wait for Take again; once closed, none is kept.
	p.SetOutbox(nil)
	p.Go(4, func(context.Context) (Result, error) { return Result{Number: 4}, nil })
	waitFor("call 4 through Take", func() bool { n, _ := p.Take(10); return n == 1 })
	p.Close()
	p.Refuse(5, Errorf(CodeUnknown, "after close"))
	if n, _ := p.Take(10); n != 0 || len(o.take()) != 0 {
		t.Fatal("a closed port delivered a refusal")
	}
}
