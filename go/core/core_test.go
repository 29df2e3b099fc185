package core

import (
	"fmt"
	"github.com/docker/docker/libcontainerd/shimopts"
	"testing"

	"github.com/docker/docker/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestValidateSpecRequiresWhatLibcontainerdDereferences(t *testing.T) {
	if err := ValidateSpec(DefaultSpec()); err != nil {
		t.Fatalf("default spec rejected: %v", err)
	}
	full := *DefaultSpec()
	noRoot, noProcess, noLinux, noVersion := full, full, full, full
	noRoot.Root, noProcess.Process, noLinux.Linux, noVersion.Version = nil, nil, nil, ""
	for _, bad := range []*specs.Spec{nil, {}, &noRoot, &noProcess, &noLinux, &noVersion} {
		if err := ValidateSpec(bad); !errdefs.IsInvalidParameter(err) {
			t.Errorf("ValidateSpec(%+v) = %v, want InvalidParameter", bad, err)
		}
	}
	if err := validateProcess(nil); !errdefs.IsInvalidParameter(err) {
		t.Errorf("nil process accepted")
	}
}

func TestRuntimeOptionsUseMobysShimopts(t *testing.T) {
	opts, err := RuntimeOptions("io.containerd.runc.v2", map[string]any{"BinaryName": "/usr/sbin/runc", "SystemdCgroup": false})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%T", opts); got != "*options.Options" {
		t.Fatalf("type %s", got)
	}
	if none, err := RuntimeOptions("io.containerd.runc.v2", nil); err != nil || none != nil {
		t.Fatalf("no options: %v %v", none, err)
	}
	// A wrongly typed value: shimopts' own error, unchanged (what a Go caller sees).
	bad := map[string]any{"SystemdCgroup": "notabool"}
	_, want := shimopts.Generate("io.containerd.runc.v2", bad)
	if _, err := RuntimeOptions("io.containerd.runc.v2", bad); want == nil || err == nil || err.Error() != want.Error() || fmt.Sprintf("%T", err) != fmt.Sprintf("%T", want) {
		t.Fatalf("got %v, want shimopts' %v", err, want)
	}
}
