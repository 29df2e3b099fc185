package core

import (
	"fmt"
	"github.com/docker/docker/libcontainerd/shimopts"
	"strings"
	"testing"

	"github.com/docker/docker/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"pylibctrd/internal/c8d"
)

func TestValidateSpecRequiresWhatLibcontainerdDereferences(t *testing.T) {
	if err := ValidateSpec(DefaultSpec()); err != nil {
		t.Fatalf("default spec rejected: %v", err)
	}
	full := *DefaultSpec()
	noRoot, noProcess, noLinux, noVersion := full, full, full, full
	noRoot.Root, noProcess.Process, noLinux.Linux, noVersion.Version = nil, nil, nil, ""
	// No ociVersion does not crash libcontainerd: it passes through.
	if err := ValidateSpec(&noVersion); err != nil {
		t.Errorf("spec without ociVersion refused: %v", err)
	}
	for _, bad := range []*specs.Spec{nil, {}, &noRoot, &noProcess, &noLinux} {
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

func TestOnlyIdsWhoseFilesWouldLandElsewhereAreRefused(t *testing.T) {
	// Container ids: the bundle dir Join(stateDir, id) must stay inside.
	for _, id := range []string{"c1", "", ".", "a/b", "/abs", "-dash", "ünïcode", "a/..", strings.Repeat("x", 300)} {
		if err := checkContainerID(id); err != nil {
			t.Errorf("container id %q refused: %v", id, err)
		}
	}
	for _, id := range []string{"..", "../x", "a/../../x", "../../etc"} {
		err := checkContainerID(id)
		want := "create container failed validation: container.ID: identifier \"" + id + "\" must match"
		if !errdefs.IsInvalidParameter(err) || !strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), ": invalid argument") {
			t.Errorf("container id %q: %v", id, err)
		}
	}
	// Exec ids: the FIFOs <bundle>/<id>-stdout must stay inside the bundle
	// dir and not be the init process's.
	for _, id := range []string{"p", "", "a/b", "/abs", "..", "x/..", strings.Repeat("e", 77)} {
		if err := checkExecID("c1", id); err != nil {
			t.Errorf("exec id %q refused: %v", id, err)
		}
	}
	for _, id := range []string{"../x", "../c2/c2", "a/../../x"} {
		err := checkExecID("c1", id)
		if !errdefs.IsInvalidParameter(err) || !strings.HasPrefix(err.Error(), "invalid exec id "+id+": identifier ") {
			t.Errorf("exec id %q: %v", id, err)
		}
	}
	for _, id := range []string{"c1", "a/../c1", "./c1"} {
		if err := checkExecID("c1", id); !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "init process") {
			t.Errorf("exec id %q: %v", id, err)
		}
	}
}

func TestCheckServerVersion(t *testing.T) {
	// The error names the flavour's own Moby and containerd client, read from
	// the build (wantFlavour etc.: serverversion_v26_test.go, _v28_test.go).
	if MinContainerd != wantMinContainerd {
		t.Fatalf("flavour %s: minimum containerd %s, want %s", c8d.Flavour, MinContainerd, wantMinContainerd)
	}
	for _, tc := range []struct {
		version string
		ok      bool
	}{
		{"1.6.20~ds1", true}, {"v1.7.35", true}, {"2.4.2+unknown", true}, {"v1.6.0", true},
		{"1.5.9", false}, {"v1.4.13", false}, {"0.9.0", false}, {"v1.5.18-12-gabc", false},
		{"dev", true}, {"", true}, // unreadable: passes
	} {
		err := CheckServerVersion("/run/c.sock", tc.version)
		if (err == nil) != tc.ok {
			t.Fatalf("%q: err %v, want ok=%v", tc.version, err, tc.ok)
		}
		if err != nil {
			for _, want := range []string{tc.version, "containerd " + wantMinContainerd + " or newer", "/run/c.sock",
				"flavour " + wantFlavour, "Moby " + wantMoby, "containerd client " + wantClient} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("%q: %q does not name %q", tc.version, err, want)
				}
			}
			if !errdefs.IsNotImplemented(err) {
				t.Fatalf("%q: %v is not NotImplemented", tc.version, err)
			}
		}
	}
}
