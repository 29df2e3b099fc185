package bridge

import (
	"sync"
	"time"
)

// Callbacks are the ways back into Python, installed once by the C ABI.
type Callbacks struct {
	// Event delivers one libcontainerd event (JSON) to a client's Backend.
	Event func(eventsKey uint64, payload []byte) error
	// Stdio hands a process's stream handles to the Python attach callback `token`.
	Stdio func(token, stdin, stdout, stderr uint64) error
	// Log forwards one log line; level uses Python's logging numbers.
	Log func(level int, msg string)
}

// gate lets callbacks run only while their receiver is open, and lets the
// closer wait for those in flight. No lock of ours is held while a callback runs.
type gate struct {
	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.inflight.Add(1)
	return true
}

func (g *gate) leave() { g.inflight.Done() }

// close stops new callbacks; with wait, it also waits (up to timeout) for
// the ones in flight. It reports whether they all finished.
func (g *gate) close(wait bool, timeout time.Duration) bool {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	if !wait {
		return true
	}
	done := make(chan struct{})
	go func() { g.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

var (
	callbacks    Callbacks
	pythonGate   = &gate{closed: true}
	callbacksSet sync.Once
)

// Init installs the callbacks; later calls only reopen the gate.
func Init(cb Callbacks, logLevel int) {
	callbacksSet.Do(func() { callbacks = cb })
	pythonGate.mu.Lock()
	pythonGate.closed = false
	pythonGate.mu.Unlock()
	installLogBridge()
	SetLogLevel(logLevel)
}

// Shutdown stops every callback into Python (interpreter exit).
func Shutdown(timeout time.Duration) error {
	defer StopTrace() //nolint:errcheck // a diagnostic trace left running ends with the process
	if !pythonGate.close(true, timeout) {
		return Errorf(CodeDeadline, "callbacks still running after %s", timeout)
	}
	return nil
}

// intoPython runs fn if Python still accepts callbacks.
func intoPython(fn func()) bool {
	if !pythonGate.enter() {
		return false
	}
	defer pythonGate.leave()
	fn()
	return true
}
