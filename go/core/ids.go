package core

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/docker/docker/errdefs"
	"pylibctrd/internal/c8d/identifiers"
)

// Ids reach the file system in libcontainerd before containerd sees them:
// NewContainer makes the bundle dir filepath.Join(stateDir, id), and Exec
// opens (creates) the FIFOs <bundle>/<exec id>-std{in,out,err}, and removes
// them again when containerd refuses the id. pylibctrd passes every id
// through to libcontainerd (so the outcome is Go's, including containerd's
// own refusal), except the ones whose files would land elsewhere: a bundle
// dir outside the state dir, or FIFOs outside the bundle dir (another
// container's bundle, where they would be that container's FIFOs) or the
// init process's own FIFOs. Those are refused first, with the error a Go
// caller gets from containerd for the same id (every such id contains "/"
// or "..", which containerd's identifiers never do), so only the file
// system side effect differs (README: "ids-escaping").

// within reports whether filepath.Join(base, name) lies strictly below base.
func within(base, name string) bool {
	return strings.HasPrefix(filepath.Join(base, name), base+string(filepath.Separator))
}

// checkContainerID refuses a container id whose bundle dir would not be
// inside the state dir (e.g. "../x", "a/../../x"). The error is
// containerd's for such an id, as libcontainerd returns it.
func checkContainerID(id string) error {
	const base = "/state"
	if within(base, id) || filepath.Join(base, id) == base {
		// Inside, or the state dir itself ("" or "."): nothing outside is made.
		return nil
	}
	return errdefs.InvalidParameter(fmt.Errorf("create container failed validation: container.ID: %w", idError(id)))
}

// checkExecID refuses an exec id whose FIFOs would not be inside the bundle
// dir, or would be the init process's (e.g. the container's own id). The
// error for an escaping id is containerd's; the init's FIFOs, which
// containerd does not know about, get an error of pylibctrd's own
// (README: "exec-init-fifos").
func checkExecID(containerID, processID string) error {
	const bundle = "/bundle"
	stdout := filepath.Join(bundle, processID+"-stdout")
	if stdout == filepath.Join(bundle, containerID+"-stdout") {
		return errdefs.InvalidParameter(fmt.Errorf("exec id %q names the FIFOs of the container's init process", processID))
	}
	if !within(bundle, processID+"-stdout") {
		return errdefs.InvalidParameter(fmt.Errorf("invalid exec id %s: %w", processID, idError(processID)))
	}
	return nil
}

// idError is containerd's identifier error for id (InvalidArgument); ids
// refused above never pass its rules.
func idError(id string) error {
	if err := identifiers.Validate(id); err != nil {
		return err
	}
	return fmt.Errorf("identifier %q is not a path component", id)
}
