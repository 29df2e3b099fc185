package bridge

import (
	"os"
	"runtime/trace"
	"sync"
)

// A Go execution trace of the library, for diagnosis only
// (benchmarks/exec_timeline.py trace): one at a time.
var tracing struct {
	mu   sync.Mutex
	file *os.File
}

// StartTrace starts writing a Go execution trace to path.
func StartTrace(path string) error {
	tracing.mu.Lock()
	defer tracing.mu.Unlock()
	if tracing.file != nil {
		return Errorf(CodeFailedPrecondition, "a trace is already being written")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := trace.Start(f); err != nil {
		f.Close()
		return err
	}
	tracing.file = f
	return nil
}

// StopTrace ends the trace StartTrace began (no-op without one).
func StopTrace() error {
	tracing.mu.Lock()
	defer tracing.mu.Unlock()
	if tracing.file == nil {
		return nil
	}
	trace.Stop()
	err := tracing.file.Close()
	tracing.file = nil
	return err
}
