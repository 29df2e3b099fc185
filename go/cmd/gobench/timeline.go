package main

import (
	"fmt"
	"os"
	"runtime/trace"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docker/docker/libcontainerd/types"
	"pylibctrd/internal/c8d/cio"

	"pylibctrd/cmd/internal/harness"
)

// exec_timeline: exec `echo hi` as the exec workload does, timing each phase
// (benchmarks/exec_timeline.py prints them beside pylibctrd's).

// timelineExits holds when the Backend saw the exit of a timeline exec.
var timelineExits sync.Map // process id -> time.Time

const timelinePrefix = "tl-"

// sawEvent is called by the Recorder for every event.
func sawEvent(et types.EventType, ei types.EventInfo) {
	if et == types.EventExit && strings.HasPrefix(ei.ProcessID, timelinePrefix) {
		timelineExits.Store(ei.ProcessID, time.Now())
	}
}

// usage is this process's user+system CPU time (ns) and context switches.
func usage() (cpu, switches int64) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), ru.Nvcsw + ru.Nivcsw
}

// execTimeline returns, per exec, the ns since its start at which each phase ended.
func (b *bench) execTimeline(n int) []map[string]int64 {
	t, container := b.execFixture()
	out := make([]map[string]int64, 0, n)
	for i := 0; i < n; i++ {
		ctx, cancel := b.call()
		id := timelinePrefix + b.name()
		spec := *harness.Spec(b.rootfs, []string{"echo", "hi"}, false, "").Process
		var output *harness.Output
		ph := map[string]int64{}
		cpu0, csw0 := usage()
		start := time.Now()
		mark := func(name string) { ph[name] = time.Since(start).Nanoseconds() }
		p, err := t.Exec(ctx, id, &spec, false, func(dio *cio.DirectIO) (cio.IO, error) {
			mark("attach")
			defer mark("attached")
			return harness.Attach(false, func(_ *cio.DirectIO, o *harness.Output) { output = o })(dio)
		})
		if err != nil {
			fatal(err)
		}
		mark("exec")
		if !b.rec.WaitFor(container, "exit", id, 30*time.Second) {
			fatal(fmt.Errorf("exec %s did not finish", id))
		}
		mark("waited")
		if !output.Wait(10 * time.Second) {
			fatal(fmt.Errorf("exec %s output did not end", id))
		}
		mark("output")
		if stdout, _ := output.Bytes(); string(stdout) != "hi\n" {
			fatal(fmt.Errorf("exec output %q", stdout))
		}
		if _, err := p.Delete(ctx); err != nil {
			fatal(err)
		}
		mark("deleted")
		cpu1, csw1 := usage()
		ph["cpu"], ph["csw"] = cpu1-cpu0, csw1-csw0
		if at, ok := timelineExits.LoadAndDelete(id); ok {
			ph["exit_event"] = at.(time.Time).Sub(start).Nanoseconds()
		}
		cancel()
		out = append(out, ph)
	}
	return out
}

// startTrace starts a Go execution trace into path; call what it returns to stop it.
func startTrace(path string) func() {
	f, err := os.Create(path)
	if err != nil {
		fatal(err)
	}
	if err := trace.Start(f); err != nil {
		fatal(err)
	}
	return func() { trace.Stop(); f.Close() }
}
