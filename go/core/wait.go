package core

import (
	"context"
	"time"
)

// Expiry is a channel that receives once timeout has passed, or never for a
// negative timeout; stop releases its timer.
func Expiry(timeout time.Duration) (expired <-chan time.Time, stop func()) {
	if timeout < 0 {
		return nil, func() {}
	}
	t := time.NewTimer(timeout)
	return t.C, func() { t.Stop() }
}

// WaitClosed waits until done is closed (true), timeout (< 0: none) passed
// (false) or ctx ended (false, its error). A done that is already closed wins
// over a timeout that is already due.
func WaitClosed(ctx context.Context, done <-chan struct{}, timeout time.Duration) (bool, error) {
	select {
	case <-done:
		return true, nil
	default:
	}
	expired, stop := Expiry(timeout)
	defer stop()
	select {
	case <-done:
		return true, nil
	case <-expired:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
