package bridge

import (
	"runtime/debug"
	"testing"
)

// Test binaries carry no module list, so the c-shared library's answer is
// checked from Python (tests/unit/test_versions.py); here, the look-up.
func TestModuleVersionFollowsReplace(t *testing.T) {
	info := &debug.BuildInfo{Deps: []*debug.Module{
		{Path: MobyModule, Version: "v26.1.5+incompatible"},
		{Path: ContainerdModule, Version: "v1.7.18", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.7.19"}},
	}}
	if got := moduleVersion(info, MobyModule); got != "v26.1.5+incompatible" {
		t.Errorf("moby: %q", got)
	}
	if got := moduleVersion(info, ContainerdModule); got != "v1.7.19" {
		t.Errorf("containerd: %q", got)
	}
	if got := moduleVersion(info, "example.com/absent"); got != "" {
		t.Errorf("absent: %q", got)
	}
}
