package bridge

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/containerd/typeurl/v2"
	"github.com/docker/docker/libcontainerd/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	containerd "pylibctrd/internal/c8d/client"
	"pylibctrd/internal/c8d/containers"

	"pylibctrd/core"
)

// Result is what an export hands back through *out. The header documents
// the wire format, one per kind of result:
//   - a number (handle, pid, byte count) in Number;
//   - text in Data: UTF-8, several fields separated by NUL;
//   - a record with optional or nested values in Data as JSON.
type Result struct {
	Number uint64
	Data   []byte
	handle bool // Number is a handle made for the caller
}

// discard releases what a result nobody will receive holds.
func (r Result) discard() {
	if r.handle {
		Handles.Release(r.Number)
	}
}

// None is the result of a call that answers nothing.
func None(err error) (Result, error) { return Result{}, err }

// Number answers a number.
func Number(n uint64, err error) (Result, error) { return Result{Number: n}, err }

// Flag answers a wait's outcome: 1 when it happened (any error is then moot),
// else 0 with the error that ended the wait (nil on timeout).
func Flag(happened bool, err error) (Result, error) {
	if happened {
		return Number(1, nil)
	}
	return Number(0, err)
}

// Handle registers obj for the caller and answers its handle.
func Handle[T any](obj T, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return Result{Number: Handles.Put(obj), handle: true}, nil
}

// Text answers fields of text.
func Text(fields ...string) Result {
	return Result{Data: []byte(strings.Join(fields, "\x00"))}
}

// JSON answers v as JSON.
func JSON(v any) (Result, error) {
	data, err := json.Marshal(v)
	return Result{Data: data}, err
}

// unixNanos is a time as JSON carries it; the zero time becomes null.
func unixNanos(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

func errorText(err error) *string {
	if err == nil {
		return nil
	}
	msg := err.Error()
	return &msg
}

// Version answers "<version>\0<revision>".
func Version(v containerd.Version, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return Text(v.Version, v.Revision), nil
}

// Status answers the status string ("running", ...).
func Status(s containerd.Status, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return Text(string(s.Status)), nil
}

// ExitStatus answers {"exit_code", "exited_at", "error"}.
func ExitStatus(st *containerd.ExitStatus, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return JSON(map[string]any{"exit_code": st.ExitCode(), "exited_at": unixNanos(st.ExitTime()), "error": errorText(st.Error())})
}

// Stats answers {"read": unix ns, "metrics": cgroup metrics}.
func Stats(st *types.Stats, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return JSON(map[string]any{"read": unixNanos(st.Read), "metrics": st.Metrics})
}

// Pids answers [{"pid": n, "info": {...} or null}].
func Pids(pis []containerd.ProcessInfo, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	out := make([]map[string]any, 0, len(pis))
	for _, pi := range pis {
		var info any
		if pi.Info != nil {
			if v, err := typeurl.UnmarshalAny(pi.Info); err == nil {
				info = v
			}
		}
		out = append(out, map[string]any{"pid": pi.Pid, "info": info})
	}
	return JSON(out)
}

// Summary answers libcontainerd's summaries as a JSON list.
func Summary(s []types.Summary, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	if s == nil {
		s = []types.Summary{}
	}
	return JSON(s)
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

// DecodeSpec reads an OCI runtime spec.
func DecodeSpec(data []byte) (*specs.Spec, error) {
	var spec specs.Spec
	if err := decodeStrict("OCI runtime spec", data, &spec); err != nil {
		return nil, err
	}
	return &spec, nil
}

// DecodeProcess reads an OCI process spec (nil for JSON null).
func DecodeProcess(data []byte) (*specs.Process, error) {
	var p *specs.Process
	return p, decodeStrict("OCI process spec", data, &p)
}

// DecodeResources reads OCI Linux resources.
func DecodeResources(data []byte) (*types.Resources, error) {
	var r *types.Resources
	if err := decodeStrict("OCI Linux resources", data, &r); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, Errorf(CodeInvalidParameter, "OCI Linux resources are not valid: null")
	}
	return r, nil
}

// DecodeNewContainer reads NewContainer's arguments: the spec, the runtime
// options (a JSON object, converted for the shim as dockerd does) and labels.
func DecodeNewContainer(id, shim string, spec, runtimeOptions, labels []byte) (o core.NewContainerOptions, err error) {
	o.ID, o.Shim = id, shim
	if o.Spec, err = DecodeSpec(spec); err != nil {
		return o, err
	}
	opts, err := decodeRuntimeOptions(runtimeOptions)
	if err != nil {
		return o, err
	}
	if o.RuntimeOptions, err = core.RuntimeOptions(shim, opts); err != nil {
		return o, err
	}
	o.Labels, err = decodeLabels(labels)
	return o, err
}

// decodeRuntimeOptions reads a JSON object of runtime options; no data means none.
func decodeRuntimeOptions(data []byte) (map[string]any, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return nil, Errorf(CodeInvalidParameter, "runtime options must be a JSON object")
	}
	return m, nil
}

// decodeLabels reads a JSON object of strings; no data means none.
func decodeLabels(data []byte) (map[string]string, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var labels map[string]string
	if err := json.Unmarshal(data, &labels); err != nil {
		return nil, Errorf(CodeInvalidParameter, "labels must map strings to strings: %v", err)
	}
	return labels, nil
}

// Containers answers [{"id", "labels", "image", "runtime", "created_at"}].
func Containers(records []containers.Container, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	out := make([]map[string]any, 0, len(records))
	for _, r := range records {
		labels := r.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		// The OCI spec is stored as JSON (typeurl's encoding of specs.Spec).
		var spec json.RawMessage
		if r.Spec != nil && json.Valid(r.Spec.GetValue()) {
			spec = r.Spec.GetValue()
		}
		out = append(out, map[string]any{
			"id": r.ID, "labels": labels, "image": r.Image, "runtime": r.Runtime.Name,
			"created_at": unixNanos(r.CreatedAt), "spec": spec,
		})
	}
	return JSON(out)
}
