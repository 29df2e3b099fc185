package core

import (
	"bytes"
	"encoding/json"

	"github.com/docker/docker/libcontainerd/shimopts"
	"github.com/docker/docker/libcontainerd/types"
	"github.com/docker/docker/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultSpec is Moby's oci.DefaultSpec() as JSON.
func DefaultSpec() ([]byte, error) {
	return json.Marshal(oci.DefaultSpec())
}

// decodeStrict decodes JSON into v, rejecting fields v does not have, so a
// document that is not what it claims to be fails loudly instead of silently.
func decodeStrict(what string, data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return Errorf(CodeInvalidParameter, "%s is not valid: %v", what, err)
	}
	if dec.More() {
		return Errorf(CodeInvalidParameter, "%s is not valid: trailing data", what)
	}
	return nil
}

// decodeSpec parses an OCI runtime spec. libcontainerd dereferences
// spec.Root, spec.Process and spec.Linux without checks, so they are required
// here (dockerd always sets them).
func decodeSpec(data []byte) (*specs.Spec, error) {
	var spec specs.Spec
	if err := decodeStrict("OCI runtime spec", data, &spec); err != nil {
		return nil, err
	}
	switch {
	case spec.Version == "":
		return nil, Errorf(CodeInvalidParameter, "OCI runtime spec is not valid: ociVersion is missing")
	case spec.Root == nil:
		return nil, Errorf(CodeInvalidParameter, "OCI runtime spec is not valid: root is missing")
	case spec.Process == nil:
		return nil, Errorf(CodeInvalidParameter, "OCI runtime spec is not valid: process is missing")
	case spec.Linux == nil:
		return nil, Errorf(CodeInvalidParameter, "OCI runtime spec is not valid: linux is missing")
	}
	return &spec, nil
}

// decodeProcess parses an OCI process spec (for Exec).
func decodeProcess(data []byte) (*specs.Process, error) {
	var p *specs.Process
	if err := decodeStrict("OCI process spec", data, &p); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, Errorf(CodeInvalidParameter, "OCI process spec is not valid: it is null")
	}
	return p, nil
}

// decodeResources parses OCI Linux resources (for UpdateResources).
func decodeResources(data []byte) (*types.Resources, error) {
	var r *types.Resources
	if err := decodeStrict("OCI Linux resources", data, &r); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, Errorf(CodeInvalidParameter, "OCI Linux resources are not valid: null")
	}
	return r, nil
}

// decodeRuntimeOptions turns a JSON object into the shim's options type the
// way dockerd does for configured runtimes (shimopts.Generate). Empty data
// means no options at all.
func decodeRuntimeOptions(shim string, data []byte) (any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, Errorf(CodeInvalidParameter, "runtime options must be a JSON object")
	}
	opts, err := shimopts.Generate(shim, m)
	if err != nil {
		return nil, Errorf(CodeInvalidParameter, "runtime options for %s are not valid: %v", shim, err)
	}
	return opts, nil
}
