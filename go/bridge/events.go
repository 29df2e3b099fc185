package bridge

import (
	"encoding/json"
	"fmt"

	"github.com/docker/docker/libcontainerd/types"
)

// eventBackend is the libcontainerd Backend of one client: it hands each event
// to Python. An error returned here is logged by libcontainerd as
// "failed to process event", exactly as in dockerd.
type eventBackend struct {
	key  uint64 // Python's key for this client's Backend
	gate gate
}

// eventPayload is EventInfo as JSON for Python.
type eventPayload struct {
	Type        types.EventType `json:"type"`
	ContainerID string          `json:"container_id"`
	ProcessID   string          `json:"process_id"`
	Pid         uint32          `json:"pid"`
	ExitCode    uint32          `json:"exit_code"`
	ExitedAt    any             `json:"exited_at"`
	Error       *string         `json:"error"`
}

func (b *eventBackend) ProcessEvent(containerID string, et types.EventType, ei types.EventInfo) (err error) {
	if !b.gate.enter() {
		return nil
	}
	defer b.gate.leave()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while delivering event: %v", r)
		}
	}()
	payload, err := json.Marshal(eventPayload{
		Type: et, ContainerID: ei.ContainerID, ProcessID: ei.ProcessID,
		Pid: ei.Pid, ExitCode: ei.ExitCode, ExitedAt: unixNanos(ei.ExitedAt), Error: errorText(ei.Error),
	})
	if err != nil {
		return err
	}
	intoPython(func() { err = callbacks.Event(b.key, payload) })
	return err
}
