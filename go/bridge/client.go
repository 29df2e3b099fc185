package bridge

import (
	"context"
	"time"

	"pylibctrd/core"
)

// Client is a core.Client whose events go to a Python Backend.
type Client struct {
	*core.Client
	events *eventBackend // nil without a Backend
}

// Connect connects a client; eventsKey 0 means no Backend, else events go to
// Python with that key (chosen by Python first, so none arrives unclaimed).
func Connect(ctx context.Context, o core.ConnectOptions, eventsKey uint64) (*Client, error) {
	c := &Client{}
	if eventsKey != 0 {
		c.events = &eventBackend{key: eventsKey}
		o.Backend = c.events
	}
	cc, err := core.Connect(ctx, o)
	if err != nil {
		return nil, err
	}
	c.Client = cc
	return c, nil
}

// Close closes the client. With wait, it returns only once no event callback
// for it is running (or 10 s have passed); a callback closing its own client
// must not wait for itself.
func (c *Client) Close(wait bool) {
	if c.events != nil {
		c.events.gate.close(wait, 10*time.Second)
	}
	c.Client.Close()
}

// StartDaemon starts Moby's supervised containerd with its output going to
// Python's log (the supervisor hands containerd this process's stdout/stderr).
func StartDaemon(root, state, logLevel, containerd string) (*core.Daemon, error) {
	CaptureDaemonOutput()
	return core.StartDaemon(root, state, logLevel, containerd)
}
