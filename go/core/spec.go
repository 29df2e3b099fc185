package core

import (
	"errors"

	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/libcontainerd/shimopts"
	"github.com/docker/docker/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultSpec is Moby's oci.DefaultSpec().
func DefaultSpec() *specs.Spec {
	s := oci.DefaultSpec()
	return &s
}

func invalidSpec(what string) error {
	return errdefs.InvalidParameter(errors.New("OCI runtime spec is not valid: " + what))
}

// ValidateSpec requires only what libcontainerd dereferences without checks
// (dockerd always sets them): a Go caller that omits them panics (root:
// NewContainer's log line; linux: WithBundle's getSpecUser; process:
// NewTask's FIFO set). Everything else passes through to Moby
// (README: "spec-validation").
func ValidateSpec(spec *specs.Spec) error {
	switch {
	case spec == nil:
		return invalidSpec("it is null")
	case spec.Root == nil:
		return invalidSpec("root is missing")
	case spec.Process == nil:
		return invalidSpec("process is missing")
	case spec.Linux == nil:
		return invalidSpec("linux is missing")
	}
	return nil
}

// validateProcess refuses only a null exec process spec (Exec reads
// spec.Terminal: a Go caller panics); everything else passes through.
func validateProcess(p *specs.Process) error {
	if p == nil {
		return errdefs.InvalidParameter(errors.New("OCI process spec is not valid: it is null"))
	}
	return nil
}

// RuntimeOptions turns a runtime's options (as in dockerd's runtime config)
// into the shim's options type, as dockerd does (shimopts.Generate). nil
// means no options at all. shimopts' error is returned unchanged (class and
// message), as a Go caller of shimopts sees it.
func RuntimeOptions(shim string, opts map[string]any) (any, error) {
	if opts == nil {
		return nil, nil
	}
	return shimopts.Generate(shim, opts)
}
