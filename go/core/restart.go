package core

// Restart policies (docker run --restart) with Moby's own parts: the docker
// CLI's opts.ParseRestartPolicy for the flag's syntax, the API's
// container.ValidateRestartPolicy for its rules (both with their messages),
// and Moby's restartmanager for the decision after each exit and the
// backoff (100ms doubling to 1 minute, reset after 10s of running).

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/docker/cli/opts"
	containertypes "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/restartmanager"
)

// RestartPolicy is docker's --restart.
type RestartPolicy = containertypes.RestartPolicy

// ParseRestartPolicy reads --restart's value ("" and "no": none,
// "always", "unless-stopped", "on-failure[:N]") and checks it as dockerd
// does at create.
func ParseRestartPolicy(text string) (RestartPolicy, error) {
	p, err := opts.ParseRestartPolicy(text)
	if err != nil {
		return p, errdefs.InvalidParameter(err)
	}
	if p.Name == "" {
		p.Name = containertypes.RestartPolicyDisabled
	}
	if err := containertypes.ValidateRestartPolicy(p); err != nil {
		return p, errdefs.InvalidParameter(err)
	}
	return p, nil
}

// RestartManager is Moby's restartmanager for one container, with the wait
// of its last positive decision.
type RestartManager struct {
	rm      *restartmanager.RestartManager
	mu      sync.Mutex
	pending chan error
}

// NewRestartManager starts from restartCount restarts already made.
func NewRestartManager(policy RestartPolicy, restartCount int) (*RestartManager, error) {
	if err := containertypes.ValidateRestartPolicy(policy); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	return &RestartManager{rm: restartmanager.New(policy, restartCount)}, nil
}

// ShouldRestart is Moby's decision after an exit (daemon/monitor.go's
// handleContainerExit asks it); when true, WaitRestart waits out the backoff.
func (m *RestartManager) ShouldRestart(exitCode uint32, manuallyStopped bool, ran time.Duration) (bool, error) {
	restart, wait, err := m.rm.ShouldRestart(exitCode, manuallyStopped, ran)
	if err != nil {
		if errors.Is(err, restartmanager.ErrRestartCanceled) {
			return false, errdefs.Cancelled(err)
		}
		return false, errdefs.Conflict(err) // asked again while a restart waits
	}
	if restart {
		m.mu.Lock()
		m.pending = wait
		m.mu.Unlock()
	}
	return restart, nil
}

// WaitRestart waits until the backoff of the last restart decision passed
// (true), the manager was canceled (Canceled: no restart), or timeout (< 0:
// none) passed or ctx ended first (false, to be asked again).
func (m *RestartManager) WaitRestart(ctx context.Context, timeout time.Duration) (bool, error) {
	m.mu.Lock()
	pending := m.pending
	m.mu.Unlock()
	if pending == nil {
		return false, errdefs.NotFound(errors.New("no restart is pending"))
	}
	expired, stop := Expiry(timeout)
	defer stop()
	select {
	case err, ok := <-pending:
		m.mu.Lock()
		if m.pending == pending {
			m.pending = nil
		}
		m.mu.Unlock()
		if ok && err != nil {
			return false, errdefs.Cancelled(err)
		}
		return true, nil
	case <-expired:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Cancel is Moby's: no restart any more (a waiting one ends canceled).
func (m *RestartManager) Cancel() { m.rm.Cancel() }
