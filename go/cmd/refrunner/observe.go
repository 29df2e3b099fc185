package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/errdefs"
)

// errorClass names an error the way Moby's errdefs (then containerd's) see it.
func errorClass(err error) string {
	if _, ok := err.(panicError); ok {
		return "Panic"
	}
	checks := []struct {
		name string
		is   func(error) bool
	}{
		{"NotFound", errdefs.IsNotFound}, {"Conflict", errdefs.IsConflict},
		{"InvalidParameter", errdefs.IsInvalidParameter}, {"Unavailable", errdefs.IsUnavailable},
		{"Forbidden", errdefs.IsForbidden}, {"NotImplemented", errdefs.IsNotImplemented},
		{"System", errdefs.IsSystem}, {"Canceled", errdefs.IsCancelled}, {"Deadline", errdefs.IsDeadline},
		{"Unknown", errdefs.IsUnknown},
		{"NotFound", cerrdefs.IsNotFound}, {"AlreadyExists", cerrdefs.IsAlreadyExists},
		{"FailedPrecondition", cerrdefs.IsFailedPrecondition}, {"InvalidParameter", cerrdefs.IsInvalidArgument},
		{"Unavailable", cerrdefs.IsUnavailable}, {"NotImplemented", cerrdefs.IsNotImplemented},
		{"Canceled", cerrdefs.IsCanceled}, {"Deadline", cerrdefs.IsDeadlineExceeded},
	}
	for _, c := range checks {
		if c.is(err) {
			return c.name
		}
	}
	return "Unknown"
}

// files lists each used container's bundle dir: every entry (and the dir
// itself as ".") with its owner and raw mode, e.g. "0:0 10600" for a FIFO.
func (r *runner) files() map[string]any {
	out := map[string]any{}
	for _, c := range r.usedNames() {
		dir := filepath.Join(r.stateDir, r.id(c))
		if !strings.HasPrefix(dir, filepath.Clean(r.stateDir)+string(filepath.Separator)) {
			out[c] = "outside" // not a bundle dir of the state dir
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			out[c] = nil
			continue
		}
		names := map[string]string{".": owner(dir)}
		for _, e := range entries {
			names[e.Name()] = owner(filepath.Join(dir, e.Name()))
		}
		out[c] = names
	}
	return out
}

func owner(path string) string {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return "gone"
	}
	return fmt.Sprintf("%d:%d %o", st.Uid, st.Gid, st.Mode)
}

// records reads the containers as containerd's own CLI shows them.
func (r *runner) records() map[string]any {
	out := map[string]any{}
	for _, c := range r.usedNames() {
		raw, err := exec.Command("ctr", "-a", r.address, "-n", r.ns, "containers", "info", r.id(c)).Output()
		if err != nil {
			out[c] = nil
			continue
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		out[c] = v
	}
	return out
}
