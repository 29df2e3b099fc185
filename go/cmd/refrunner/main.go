// Command refrunner is the reference side of the differential tests: it runs
// a scenario (tests/scenarios/*.json) with Moby's libcontainerd called
// directly from Go (no C ABI, no pylibctrd code) and prints the raw trace as
// JSON lines, in the format tests/differential/runner.py prints for pylibctrd.
//
// main.go holds the scenario loop and the trace; steps.go what each op does;
// state.go the objects a scenario holds; observe.go what is looked at after
// each step (bundle files, containerd's records, error classes).
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"pylibctrd/internal/c8d/namespaces"

	"pylibctrd/cmd/internal/harness"
)

type scenario struct {
	Steps []Step `json:"steps"`
}

// outcome runs one step and never panics: a Go caller's panic (e.g. writing
// to a nil Stdin) is the step's error, class "Panic".
func (r *runner) outcome(s Step) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, panicError{fmt.Sprint(p)}
		}
	}()
	if s.Op == "parallel" {
		return r.parallel(s.Steps), nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	return r.do(ctx, s)
}

type panicError struct{ msg string }

func (p panicError) Error() string { return p.msg }

// parallel runs the steps at once and records each outcome's class, sorted,
// so that the order in which they finish is not part of the trace.
func (r *runner) parallel(steps []Step) map[string]any {
	outcomes := make([]string, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps {
		wg.Add(1)
		go func(i int, s Step) {
			defer wg.Done()
			class := "ok"
			if _, err := r.outcome(s); err != nil {
				class = errorClass(err)
			}
			outcomes[i] = s.Op + ":" + class
		}(i, s)
	}
	wg.Wait()
	sort.Strings(outcomes)
	return map[string]any{"outcomes": outcomes}
}

func main() {
	r := newRunner()
	var scenarioPath string
	flag.StringVar(&r.address, "address", "", "containerd socket")
	flag.StringVar(&r.ns, "namespace", "", "containerd namespace")
	flag.StringVar(&r.stateDir, "state-dir", "", "libcontainerd state dir (bundles)")
	flag.StringVar(&r.rootfs, "rootfs", "", "busybox rootfs")
	flag.StringVar(&r.prefix, "prefix", "", "prefix for container ids")
	flag.StringVar(&r.imagesDir, "images", "", "dir of the image archives scenarios import")
	flag.StringVar(&r.registry, "registry", "", "the test's registry (host:port)")
	flag.StringVar(&r.authRegistry, "auth-registry", "", "the test's registry with htpasswd auth (host:port)")
	flag.StringVar(&scenarioPath, "scenario", "", "scenario JSON file")
	flag.Parse()
	logrus.SetOutput(os.Stderr)
	logrus.SetLevel(logrus.WarnLevel)

	raw, err := os.ReadFile(scenarioPath)
	if err != nil {
		fatal(err)
	}
	var sc scenario
	if err := json.Unmarshal(raw, &sc); err != nil {
		fatal(err)
	}
	// Steps run in a context of their own: closing a client must not cancel them.
	r.ctx = namespaces.WithNamespace(context.Background(), r.ns)
	for _, name := range []string{"main", "second"} {
		backend := r.events
		if name == "second" {
			backend = harness.NewRecorder() // events are traced once, from the main client
		}
		conn, err := dial(r.address, r.ns, r.stateDir, backend)
		if err != nil {
			fatal(err)
		}
		r.clients[name] = conn
	}

	enc := json.NewEncoder(os.Stdout)
	for i, s := range sc.Steps {
		res, err := r.outcome(s)
		line := map[string]any{"step": i, "op": s.Op, "files": r.files()}
		if err != nil {
			line["error"] = map[string]string{"class": errorClass(err), "message": err.Error()}
		} else {
			line["result"] = res
		}
		if recordOps[s.Op] {
			line["record"] = r.records()
		}
		_ = enc.Encode(line)
	}
	settle(r.events)
	outputs := map[string]any{}
	for k, o := range r.snapshotOutputs() {
		stdout, stderr := o.Bytes()
		outputs[k] = map[string]string{"stdout": hex.EncodeToString(stdout), "stderr": hex.EncodeToString(stderr)}
	}
	_ = enc.Encode(map[string]any{"events": r.events.Snapshot(), "outputs": outputs, "killed": r.killedPids()})
	r.cleanup()
}

// settle waits until no event arrived for 300ms (at most 5s).
func settle(rec *harness.Recorder) {
	deadline := time.Now().Add(5 * time.Second)
	last := rec.Count()
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		n := rec.Count()
		if n == last {
			return
		}
		last = n
	}
}

// cleanup removes every container the scenario used (not traced), through a
// client of its own: the scenario may have closed its clients.
func (r *runner) cleanup() {
	conn, err := dial(r.address, r.ns, r.stateDir, harness.NewRecorder())
	if err != nil {
		fatal(err)
	}
	defer conn.close()
	for _, c := range r.used {
		cctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		if ctr, err := conn.lc.LoadContainer(cctx, r.id(c)); err == nil {
			if t, err := ctr.Task(cctx); err == nil {
				_ = t.ForceDelete(cctx)
			}
			_ = ctr.Delete(cctx)
		}
		cancel()
	}
	r.cleanupImages(conn)
	for _, conn := range r.clients {
		conn.close()
	}
	// Bundle dirs libcontainerd made for ids containerd then refused (empty;
	// the Python runner removes its own the same way).
	for _, c := range r.used {
		id := r.id(c)
		first, _, _ := strings.Cut(id, "/")
		_ = syscall.Rmdir(filepath.Join(r.stateDir, id))
		_ = syscall.Rmdir(filepath.Join(r.stateDir, first))
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "refrunner:", err)
	os.Exit(2)
}
