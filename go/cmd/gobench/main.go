// Command gobench is the native-Go peer of `make bench`: the same workloads
// as benchmarks/ runs through pylibctrd, calling the pinned libcontainerd
// directly. It prints one JSON object with its measurements.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/docker/docker/libcontainerd/types"
	"github.com/sirupsen/logrus"
	"pylibctrd/internal/c8d/cio"
	containerd "pylibctrd/internal/c8d/client"
	"pylibctrd/internal/c8d/namespaces"

	"pylibctrd/cmd/internal/harness"
)

type bench struct {
	address, ns, stateDir, rootfs, prefix string
	threads                               int
	locked                                bool // parallel: lock each goroutine to its OS thread
	rec                                   *harness.Recorder
	lc                                    types.Client
	ctx                                   context.Context
	seq                                   atomic.Int64
	// fixtures made once per process for load and exec, removed by cleanup
	loadID, execID string
	execTask       types.Task
	fixtures       []func(context.Context)
}

// name is a fresh container id; the parallel workloads call it concurrently.
func (b *bench) name() string {
	return fmt.Sprintf("%s%d", b.prefix, b.seq.Add(1))
}

func (b *bench) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 60*time.Second)
}

// timed runs op n times and returns each duration in ns.
func timed(n int, op func() error) []int64 {
	out := make([]int64, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		if err := op(); err != nil {
			fatal(err)
		}
		out = append(out, time.Since(start).Nanoseconds())
	}
	return out
}

func (b *bench) version() error {
	ctx, cancel := b.call()
	defer cancel()
	_, err := b.lc.Version(ctx)
	return err
}

func (b *bench) createDelete() error {
	ctx, cancel := b.call()
	defer cancel()
	c, _, err := b.create(ctx, "true")
	if err != nil {
		return err
	}
	return c.Delete(ctx)
}

// create makes a container with a fresh id running args.
func (b *bench) create(ctx context.Context, args ...string) (types.Container, string, error) {
	id := b.name()
	c, err := b.lc.NewContainer(ctx, id, harness.Spec(b.rootfs, args, false, "/pylibctrd-bench/"+id), harness.Shim, nil)
	return c, id, err
}

// lifecycle: create, new task, start, exit event, task delete, container delete.
func (b *bench) lifecycle() error {
	ctx, cancel := b.call()
	defer cancel()
	c, id, err := b.create(ctx, "true")
	if err != nil {
		return err
	}
	t, err := c.NewTask(ctx, "", false, harness.Attach(false, func(*cio.DirectIO, *harness.Output) {}))
	if err != nil {
		return err
	}
	if err := t.Start(ctx); err != nil {
		return err
	}
	if !b.rec.WaitFor(id, "exit", id, 30*time.Second) {
		return fmt.Errorf("no exit event for %s", id)
	}
	if _, err := t.Delete(ctx); err != nil {
		return err
	}
	return c.Delete(ctx)
}

func (b *bench) exec(t types.Task, container string) error {
	ctx, cancel := b.call()
	defer cancel()
	id := b.name()
	spec := *harness.Spec(b.rootfs, []string{"echo", "hi"}, false, "").Process
	var out *harness.Output
	p, err := t.Exec(ctx, id, &spec, false, harness.Attach(false, func(_ *cio.DirectIO, o *harness.Output) { out = o }))
	if err != nil {
		return err
	}
	if !b.rec.WaitFor(container, "exit", id, 30*time.Second) || !out.Wait(10*time.Second) {
		return fmt.Errorf("exec %s did not finish", id)
	}
	if stdout, _ := out.Bytes(); string(stdout) != "hi\n" {
		return fmt.Errorf("exec output %q", stdout)
	}
	_, err = p.Delete(ctx)
	return err
}

// parallel runs total ops over b.threads goroutines; returns the wall time.
func (b *bench) parallel(total int, op func() error) int64 {
	var wg sync.WaitGroup
	start := time.Now()
	per := total / b.threads
	for i := 0; i < b.threads; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b.locked {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			for j := 0; j < per; j++ {
				if err := op(); err != nil {
					fatal(err)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start).Nanoseconds()
}

func rssKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "VmRSS:" {
			v, _ := strconv.ParseInt(fields[1], 10, 64)
			return v
		}
	}
	return -1
}

//go:noinline
func nop() {}

// request is one measurement; serve mode reads them from stdin, one JSON
// object per line, so that the Python harness can interleave the peers op by op.
type request struct {
	Workload string `json:"workload"`
	N        int    `json:"n"`
	Threads  int    `json:"threads"`
	Locked   bool   `json:"locked"` // run on a goroutine locked to its OS thread, as a cgo callback is
	Trace    string `json:"trace"`  // write a Go execution trace of this measurement here
}

// measure runs one client workload and returns its figures.
func (b *bench) measure(req request) map[string]any {
	result := map[string]any{}
	if req.Trace != "" {
		defer startTrace(req.Trace)()
		req.Trace = ""
	}
	b.locked = req.Locked
	if req.Locked && !strings.HasPrefix(req.Workload, "threads_") {
		done := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			result = b.measure(request{Workload: req.Workload, N: req.N, Threads: req.Threads})
			close(done)
		}()
		<-done
		return result
	}
	b.threads = req.Threads
	switch req.Workload {
	case "version":
		result["ns"] = timed(req.N, b.version)
	case "load":
		id := b.loadFixture()
		result["ns"] = timed(req.N, func() error {
			ctx, cancel := b.call()
			defer cancel()
			_, err := b.lc.LoadContainer(ctx, id)
			return err
		})
	case "create_delete":
		result["ns"] = timed(req.N, b.createDelete)
	case "lifecycle":
		result["ns"] = timed(req.N, b.lifecycle)
	case "publish_run":
		result["ns"] = timed(req.N, b.publishRun)
		b.removeBenchNetwork()
	case "exec":
		t, id := b.execFixture()
		result["ns"] = timed(req.N, func() error { return b.exec(t, id) })
	case "exec_timeline":
		result["phases"] = b.execTimeline(req.N)
	case "threads_version":
		result["wall_ns"], result["ops"] = b.parallel(req.N, b.version), req.N
	case "threads_lifecycle":
		result["wall_ns"], result["ops"] = b.parallel(req.N, b.lifecycle), req.N
	case "memory":
		var at10pct int64
		for i := 1; i <= req.N; i++ {
			if err := b.lifecycle(); err != nil {
				fatal(err)
			}
			if i == req.N/10 {
				at10pct = rssKiB()
			}
		}
		result["rss_kib_at_10pct"], result["rss_kib_at_end"] = at10pct, rssKiB()
	default:
		fatal(fmt.Errorf("unknown workload %q", req.Workload))
	}
	return result
}

// loadFixture is the container every load measurement loads (made once).
func (b *bench) loadFixture() string {
	if b.loadID == "" {
		ctx, cancel := b.call()
		defer cancel()
		c, id, err := b.create(ctx, "true")
		if err != nil {
			fatal(err)
		}
		b.fixtures = append(b.fixtures, func(ctx context.Context) { _ = c.Delete(ctx) })
		b.loadID = id
	}
	return b.loadID
}

// execFixture is the running task every exec measurement execs in (made once).
func (b *bench) execFixture() (types.Task, string) {
	if b.execTask == nil {
		ctx, cancel := b.call()
		defer cancel()
		c, id, err := b.create(ctx, "sleep", "600")
		if err != nil {
			fatal(err)
		}
		t, err := c.NewTask(ctx, "", false, harness.Attach(false, func(*cio.DirectIO, *harness.Output) {}))
		if err == nil {
			err = t.Start(ctx)
		}
		if err != nil {
			_ = c.Delete(ctx)
			fatal(err)
		}
		b.fixtures = append(b.fixtures, func(ctx context.Context) { _ = t.ForceDelete(ctx); _ = c.Delete(ctx) })
		b.execTask, b.execID = t, id
	}
	return b.execTask, b.execID
}

func (b *bench) cleanup() {
	ctx, cancel := b.call()
	defer cancel()
	for _, f := range b.fixtures {
		f(ctx)
	}
	b.fixtures = nil
}

// serve answers requests from stdin until it is closed, then cleans up.
func (b *bench) serve() {
	defer b.cleanup()
	in := bufio.NewScanner(os.Stdin)
	fmt.Println(`{"ready":true}`)
	for in.Scan() {
		var req request
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			fatal(err)
		}
		emit(b.measure(req))
	}
}

func main() {
	var b bench
	var req request
	var interval time.Duration
	flag.StringVar(&b.address, "address", "", "containerd socket")
	flag.StringVar(&b.ns, "namespace", "", "namespace")
	flag.StringVar(&b.stateDir, "state-dir", "", "libcontainerd state dir")
	flag.StringVar(&b.rootfs, "rootfs", "", "busybox rootfs")
	flag.StringVar(&b.prefix, "prefix", "gobench-", "container id prefix")
	flag.StringVar(&req.Workload, "workload", "", "what to measure, or serve: requests from stdin")
	flag.IntVar(&req.N, "n", 100, "operations")
	flag.IntVar(&req.Threads, "threads", 8, "goroutines for the parallel workloads")
	flag.BoolVar(&req.Locked, "locked", false, "run on a goroutine locked to its OS thread")
	flag.DurationVar(&interval, "interval", time.Millisecond, "gap between published events")
	flag.Parse()
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(logrus.WarnLevel)

	switch req.Workload {
	case "nop":
		start := time.Now()
		for i := 0; i < req.N; i++ {
			nop()
		}
		emit(map[string]any{"ns_per_op": float64(time.Since(start).Nanoseconds()) / float64(req.N)})
		return
	case "json":
		payload := []byte(`{"id":"container-1","labels":{"a":"b"},"pids":[1,2,3],"ok":true}`)
		start := time.Now()
		for i := 0; i < req.N; i++ {
			var v any
			if err := json.Unmarshal(payload, &v); err != nil {
				fatal(err)
			}
			if _, err := json.Marshal(v); err != nil {
				fatal(err)
			}
		}
		emit(map[string]any{"ns_per_op": float64(time.Since(start).Nanoseconds()) / float64(req.N)})
		return
	case "publish":
		pub := mustPublisher(b.address, b.ns)
		sent := map[string]int64{}
		for i := 0; i < req.N; i++ {
			id := fmt.Sprintf("%sev%d", b.prefix, i)
			sent[id] = time.Now().UnixNano()
			publishPaused(pub, b.ns, id)
			if interval > 0 {
				time.Sleep(interval)
			}
		}
		emit(map[string]any{"sent": sent})
		return
	}

	b.rec = harness.NewRecorder()
	received := map[string]int64{}
	var recvMu sync.Mutex
	b.rec.OnEvent = func(et types.EventType, ei types.EventInfo) {
		sawEvent(et, ei)
		if strings.HasPrefix(ei.ContainerID, b.prefix+"ev") {
			now := time.Now().UnixNano()
			recvMu.Lock()
			received[ei.ContainerID] = now
			recvMu.Unlock()
		}
	}
	var err error
	b.lc, b.ctx, err = harness.Connect(b.address, b.ns, b.stateDir, b.rec)
	if err != nil {
		fatal(err)
	}

	switch req.Workload {
	case "serve":
		b.serve()
	case "subscribe":
		// Wait for req.N published events (container ids <prefix>ev<k>), reporting
		// readiness once a probe event of our own has made the round trip.
		probe := b.prefix + "ev-probe"
		pub := mustPublisher(b.address, b.ns)
		deadline := time.Now().Add(10 * time.Second)
		for !b.rec.WaitFor(probe, "paused", "", 100*time.Millisecond) {
			publishPaused(pub, b.ns, probe)
			if time.Now().After(deadline) {
				fatal(fmt.Errorf("subscription never became live"))
			}
		}
		fmt.Println("ready")
		deadline = time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			recvMu.Lock()
			n := len(received)
			recvMu.Unlock()
			if n >= req.N+1 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		recvMu.Lock()
		delete(received, probe)
		emit(map[string]any{"received": received})
		recvMu.Unlock()
	default:
		result := b.measure(req)
		b.cleanup()
		emit(result)
	}
}

func mustPublisher(address, ns string) *containerd.Client {
	c, err := containerd.New(address, containerd.WithDefaultNamespace(ns))
	if err != nil {
		fatal(err)
	}
	return c
}

// publishPaused publishes a TaskPaused event: libcontainerd turns it into
// EventPaused for the Backend, through the same stream as real task events.
func publishPaused(c *containerd.Client, ns, id string) {
	ctx := namespaces.WithNamespace(context.Background(), ns)
	if err := c.EventService().Publish(ctx, "/tasks/paused", &apievents.TaskPaused{ContainerID: id}); err != nil {
		fatal(err)
	}
}

func emit(v any) {
	if err := json.NewEncoder(os.Stdout).Encode(v); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gobench:", err)
	os.Exit(2)
}
