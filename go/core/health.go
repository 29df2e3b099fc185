package core

// Health checks for a task this process runs, with dockerd's semantics
// (daemon/health.go, which lives in package daemon and cannot be imported):
// each probe is an exec through libcontainerd (CMD, or CMD-SHELL under
// /bin/sh -c) with the container's env, user and cwd; exit 0 is healthy,
// anything else a failure; a probe that outlasts its timeout is killed,
// deleted and counted as a failure ("Health check exceeded timeout (...)",
// exit -1); failures within the start period do not count while starting;
// `retries` failures in a row make the container unhealthy; the last five
// results are kept (Moby's container.Health and types.HealthcheckResult).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/docker/docker/api/types"
	containertypes "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/container"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stringid"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// HealthConfig is docker's HEALTHCHECK / --health-* configuration.
type HealthConfig = containertypes.HealthConfig

// Moby's daemon/health.go constants.
const (
	maxOutputLen         = 4096
	defaultProbeInterval = 30 * time.Second
	defaultProbeTimeout  = 30 * time.Second
	defaultStartPeriod   = 0 * time.Second
	defaultProbeRetries  = 3
	maxLogEntries        = 5
	exitStatusHealthy    = 0
)

// HealthMonitor runs one container's probes.
type HealthMonitor struct {
	mu      sync.Mutex
	health  *container.Health
	config  HealthConfig
	started time.Time
	stop    chan struct{}
	done    chan struct{}

	// What watchers see: results recorded so far, the status changes
	// (dockerd's health_status events), whether probing ended, and a
	// channel closed (and replaced) at each change.
	seq     uint64
	events  []HealthEvent
	ended   bool
	changed chan struct{}
}

// HealthEvent is the event dockerd emits when a container's health status
// changes (daemon/health.go: LogContainerEvent with action
// "health_status: <status>"); Seq is the result that changed it.
type HealthEvent struct {
	Seq    uint64
	Action string
	Status string
	Time   time.Time
}

// HealthUpdate is a watcher's view: the state after Seq results, the
// events after the watcher's last Seq, and whether probing has ended.
type HealthUpdate struct {
	Health types.Health
	Seq    uint64
	Events []HealthEvent
	Ended  bool
}

// maxHealthEvents bounds the status changes kept for watchers.
const maxHealthEvents = 16

type healthState struct {
	mu       sync.Mutex
	monitors map[string]*HealthMonitor
}

// StartHealth starts probing the task's container (replacing any probing
// of it this client does). A config without a test, or "NONE", is refused.
func (t *Task) StartHealth(ctx context.Context, cfg HealthConfig) error {
	if len(cfg.Test) == 0 || cfg.Test[0] == "NONE" {
		return errdefs.InvalidParameter(errors.New("health check has no test (or NONE)"))
	}
	switch cfg.Test[0] {
	case "CMD", "CMD-SHELL":
		if len(cfg.Test) < 2 {
			return errdefs.InvalidParameter(errors.New("health check test has no command"))
		}
	default:
		return errdefs.InvalidParameter(fmt.Errorf("unknown healthcheck type '%s' (expected 'CMD')", cfg.Test[0]))
	}
	if err := validateHealthConfig(&cfg); err != nil {
		return err
	}
	spec, err := get(t.client, ctx, func(ctx context.Context) (*specs.Spec, error) {
		ctr, err := t.client.c8d.LoadContainer(ctx, t.id)
		if err != nil {
			return nil, err
		}
		return ctr.Spec(ctx)
	})
	if err != nil {
		return err
	}
	h := &container.Health{}
	h.SetStatus(types.Starting)
	m := &HealthMonitor{health: h, config: cfg, started: time.Now(), stop: make(chan struct{}),
		done: make(chan struct{}), changed: make(chan struct{})}
	s := &t.client.health
	s.mu.Lock()
	if s.monitors == nil {
		s.monitors = map[string]*HealthMonitor{}
	}
	old := s.monitors[t.id]
	s.monitors[t.id] = m
	s.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	go m.run(t, spec.Process)
	return nil
}

// validateHealthConfig is dockerd's validateHealthCheck (daemon/container.go,
// package daemon: followed), as InvalidParameter.
func validateHealthConfig(cfg *HealthConfig) error {
	tooShort := func(name string, d time.Duration) error {
		if d != 0 && d < containertypes.MinimumDuration {
			return errdefs.InvalidParameter(fmt.Errorf("%s in Healthcheck cannot be less than %s", name, containertypes.MinimumDuration))
		}
		return nil
	}
	if err := tooShort("Interval", cfg.Interval); err != nil {
		return err
	}
	if err := tooShort("Timeout", cfg.Timeout); err != nil {
		return err
	}
	if cfg.Retries < 0 {
		return errdefs.InvalidParameter(errors.New("Retries in Healthcheck cannot be negative"))
	}
	if err := tooShort("StartPeriod", cfg.StartPeriod); err != nil {
		return err
	}
	return tooShort("StartInterval", cfg.StartInterval)
}

// StopHealth stops probing the task's container (nothing if none runs).
func (t *Task) StopHealth() {
	s := &t.client.health
	s.mu.Lock()
	m := s.monitors[t.id]
	delete(s.monitors, t.id)
	s.mu.Unlock()
	if m != nil {
		m.Stop()
	}
}

// Health is the container's health as this client probes it; NotFound if
// it does not.
func (t *Task) Health() (types.Health, error) {
	s := &t.client.health
	s.mu.Lock()
	m := s.monitors[t.id]
	s.mu.Unlock()
	if m == nil {
		return types.Health{}, errdefs.NotFound(fmt.Errorf("container %s has no health check running in this client", t.id))
	}
	return m.Snapshot(), nil
}

// WatchHealth waits until the container's health has more than `after`
// results recorded (or probing ended), up to timeout (< 0: none), and
// answers the state then with the status changes after `after`; NotFound
// if this client does not probe it.
func (t *Task) WatchHealth(ctx context.Context, after uint64, timeout time.Duration) (HealthUpdate, error) {
	s := &t.client.health
	s.mu.Lock()
	m := s.monitors[t.id]
	s.mu.Unlock()
	if m == nil {
		return HealthUpdate{}, errdefs.NotFound(fmt.Errorf("container %s has no health check running in this client", t.id))
	}
	return m.Watch(ctx, after, timeout)
}

// Watch is WatchHealth on the monitor itself (it outlives StopHealth).
func (m *HealthMonitor) Watch(ctx context.Context, after uint64, timeout time.Duration) (HealthUpdate, error) {
	var expired <-chan time.Time
	if timeout >= 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	for {
		m.mu.Lock()
		if m.seq > after || m.ended {
			defer m.mu.Unlock()
			return m.update(after), nil
		}
		changed := m.changed
		m.mu.Unlock()
		select {
		case <-changed:
		case <-expired:
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.update(after), nil
		case <-ctx.Done():
			return HealthUpdate{}, ctx.Err()
		}
	}
}

// update is the watcher's view (m.mu held).
func (m *HealthMonitor) update(after uint64) HealthUpdate {
	u := HealthUpdate{Health: m.snapshot(), Seq: m.seq, Ended: m.ended}
	for _, e := range m.events {
		if e.Seq > after {
			u.Events = append(u.Events, e)
		}
	}
	return u
}

// changedLocked wakes the watchers (m.mu held).
func (m *HealthMonitor) changedLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// end marks probing over for the watchers.
func (m *HealthMonitor) end() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.ended {
		m.ended = true
		m.changedLocked()
	}
}

// Snapshot copies the current state.
func (m *HealthMonitor) Snapshot() types.Health {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snapshot()
}

// snapshot is the state as dockerd's inspect copies it (daemon/inspect.go:
// Log is never nil, so its JSON is [] before the first result).
func (m *HealthMonitor) snapshot() types.Health {
	out := types.Health{Status: m.health.Status(), FailingStreak: m.health.FailingStreak,
		Log: make([]*types.HealthcheckResult, 0, len(m.health.Log))}
	for _, r := range m.health.Log {
		c := *r
		out.Log = append(out.Log, &c)
	}
	return out
}

// Stop ends the probing and waits for a probe in flight to be cleaned up.
func (m *HealthMonitor) Stop() {
	m.mu.Lock()
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.mu.Unlock()
	<-m.done
}

func withDefault(v, d time.Duration) time.Duration {
	if v == 0 {
		return d
	}
	return v
}

// run is Moby's monitor loop.
func (m *HealthMonitor) run(t *Task, base *specs.Process) {
	defer close(m.done)
	defer m.end()
	probeInterval := withDefault(m.config.Interval, defaultProbeInterval)
	startInterval := withDefault(m.config.StartInterval, probeInterval)
	startPeriod := withDefault(m.config.StartPeriod, defaultStartPeriod)
	interval := func() time.Duration {
		if time.Since(m.started) >= startPeriod {
			return probeInterval
		}
		if m.health.Status() == types.Starting {
			return startInterval
		}
		return probeInterval
	}
	timer := time.NewTimer(interval())
	defer timer.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.client.ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		ctx, cancel := context.WithCancel(t.client.ctx)
		results := make(chan *types.HealthcheckResult, 1)
		var probeErr error
		go func() {
			r, err := m.probe(ctx, t, base)
			if err != nil {
				probeErr = err
				r = &types.HealthcheckResult{ExitCode: -1, Output: err.Error(), End: time.Now()}
			}
			r.Start = start
			results <- r
		}()
		select {
		case <-m.stop:
			cancel()
			<-results
			return
		case r := <-results:
			cancel()
			if probeErr != nil && !t.running() {
				// The container stopped: dockerd stops its monitor then
				// (CloseMonitorChannel leaves it unhealthy, with no event).
				m.mu.Lock()
				m.health.SetStatus(types.Unhealthy)
				m.mu.Unlock()
				return
			}
			if !m.handle(r) {
				return
			}
		}
		timer.Reset(interval())
	}
}

// handle is Moby's handleProbeResult; false once the task is gone.
func (m *HealthMonitor) handle(r *types.HealthcheckResult) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.stop:
		return false
	default:
	}
	h := m.health
	oldStatus := h.Status()
	if len(h.Log) >= maxLogEntries {
		h.Log = append(h.Log[len(h.Log)+1-maxLogEntries:], r)
	} else {
		h.Log = append(h.Log, r)
	}
	retries := m.config.Retries
	if retries <= 0 {
		retries = defaultProbeRetries
	}
	if r.ExitCode == exitStatusHealthy {
		h.FailingStreak = 0
		h.SetStatus(types.Healthy)
	} else {
		increment := true
		if h.Status() == types.Starting {
			if r.Start.Sub(m.started) < withDefault(m.config.StartPeriod, defaultStartPeriod) {
				increment = false
			}
		}
		if increment {
			h.FailingStreak++
			if h.FailingStreak >= retries {
				h.SetStatus(types.Unhealthy)
			}
		}
	}
	m.seq++
	if current := h.Status(); current != oldStatus {
		m.events = append(m.events, HealthEvent{Seq: m.seq, Action: string(events.ActionHealthStatus) + ": " + current,
			Status: current, Time: time.Now()})
		if len(m.events) > maxHealthEvents {
			m.events = m.events[len(m.events)-maxHealthEvents:]
		}
	}
	m.changedLocked()
	return true
}

// limitedBuffer is Moby's: the first 4096 bytes, "..." when cut.
type limitedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
}

func (b *limitedBuffer) Write(data []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(maxOutputLen-b.buf.Len(), len(data))
	if keep > 0 {
		b.buf.Write(data[:keep])
	}
	if keep < len(data) {
		b.truncated = true
	}
	return len(data), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return b.buf.String() + "..."
	}
	return b.buf.String()
}

// probe is Moby's cmdProbe.run: one exec, its output and exit code.
func (m *HealthMonitor) probe(ctx context.Context, t *Task, base *specs.Process) (*types.HealthcheckResult, error) {
	args := append([]string{}, m.config.Test[1:]...)
	if m.config.Test[0] == "CMD-SHELL" {
		args = append([]string{"/bin/sh", "-c"}, args...)
	}
	ps := *base
	ps.Args, ps.Terminal, ps.ConsoleSize = args, false, nil
	output := &limitedBuffer{}
	var copies sync.WaitGroup
	attach := func(dio *cio.DirectIO) (cio.IO, error) {
		if dio.Stdin != nil {
			dio.Stdin.Close()
		}
		for _, r := range []io.ReadCloser{dio.Stdout, dio.Stderr} {
			if r != nil {
				copies.Add(1)
				go func() { defer copies.Done(); io.Copy(output, r) }()
			}
		}
		return dio, nil
	}
	execID := "health-" + stringid.GenerateRandomID()[:16]
	// Wait needs the process before it can exit unseen: containerd keeps
	// an exited process's status until it is deleted, so waiting after
	// the start is fine.
	p, err := t.Exec(ctx, execID, &ps, false, attach)
	if err != nil {
		return nil, err
	}
	status, err := t.waitExec(ctx, execID)
	exited := false
	defer func() {
		// No exec is left behind, whatever happened (a fresh context: ctx
		// may be cancelled): killed, waited for and deleted.
		cleanup, cancel := context.WithTimeout(t.client.ctx, 10*time.Second)
		defer cancel()
		if !exited {
			p.proc.Kill(cleanup, syscall.SIGKILL)
			if status != nil {
				select {
				case <-status:
				case <-cleanup.Done():
				}
			}
		}
		p.proc.Delete(cleanup)
	}()
	if err != nil {
		return nil, err
	}
	timeout := withDefault(m.config.Timeout, defaultProbeTimeout)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-timer.C:
		msg := fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
		if out := output.String(); out != "" {
			msg += ": " + out
		}
		return &types.HealthcheckResult{ExitCode: -1, Output: msg, End: time.Now()}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case s := <-status:
		exited = true
		copies.Wait()
		if err := s.Error(); err != nil {
			return nil, err
		}
		return &types.HealthcheckResult{ExitCode: int(s.ExitCode()), Output: output.String(), End: time.Now()}, nil
	}
}

// running is whether the task still runs (or is paused).
func (t *Task) running() bool {
	ctx, cancel := context.WithTimeout(t.client.ctx, t.client.timeout)
	defer cancel()
	s, err := t.task.Status(ctx)
	return err == nil && (s.Status == containerd.Running || s.Status == containerd.Paused || s.Status == containerd.Pausing)
}

// waitExec is containerd's wait for exec id of the task.
func (t *Task) waitExec(ctx context.Context, execID string) (<-chan containerd.ExitStatus, error) {
	ctr, err := t.client.c8d.LoadContainer(ctx, t.id)
	if err != nil {
		return nil, err
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return nil, err
	}
	p, err := task.LoadProcess(ctx, execID, nil)
	if err != nil {
		return nil, err
	}
	return p.Wait(ctx)
}
