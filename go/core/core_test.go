package core

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/errdefs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestClassifyPrefersMobyThenContainerdThenGRPC(t *testing.T) {
	cases := []struct {
		err  error
		want Code
	}{
		{nil, CodeOK},
		{errdefs.Conflict(errors.New("id already in use")), CodeConflict},
		{errdefs.NotFound(errors.New("no such container")), CodeNotFound},
		{fmt.Errorf("wrapped: %w", cerrdefs.ErrFailedPrecondition), CodeFailedPrecondition},
		{fmt.Errorf("x: %w", cerrdefs.ErrAlreadyExists), CodeAlreadyExists},
		{cerrdefs.ErrInvalidArgument, CodeInvalidParameter},
		{cerrdefs.ErrUnavailable, CodeUnavailable},
		{context.DeadlineExceeded, CodeDeadline},
		{status.Error(codes.Unavailable, "down"), CodeUnavailable},
		{status.Error(codes.Internal, "bad"), CodeSystem},
		{Errorf(CodeClosed, "client is closed"), CodeClosed},
		{errors.New("anything else"), CodeUnknown},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestRegistryNeverReusesHandles(t *testing.T) {
	a := Handles.Put("a")
	Handles.Release(a)
	Handles.Release(a)
	b := Handles.Put("b")
	if a == b {
		t.Fatalf("handle %d reused", a)
	}
	if _, err := Lookup[string](a); Classify(err) != CodeInvalidHandle {
		t.Fatalf("released handle: %v", err)
	}
	if _, err := Lookup[int](b); Classify(err) != CodeInvalidHandle {
		t.Fatalf("wrong type: %v", err)
	}
	if v, err := Lookup[string](b); err != nil || v != "b" {
		t.Fatalf("Lookup = %q, %v", v, err)
	}
	Handles.Release(b)
}

func TestDecodeSpecRequiresWhatLibcontainerdDereferences(t *testing.T) {
	good, _ := DefaultSpec()
	if _, err := decodeSpec(good); err != nil {
		t.Fatalf("default spec rejected: %v", err)
	}
	for _, bad := range []string{`{}`, `{"ociVersion":"1.0.2"}`, `{"foo":1}`, `[]`, `null`, `{"ociVersion":"1","root":{},"process":{},"linux":{}} x`} {
		if _, err := decodeSpec([]byte(bad)); Classify(err) != CodeInvalidParameter {
			t.Errorf("decodeSpec(%s) = %v, want InvalidParameter", bad, err)
		}
	}
	if _, err := decodeProcess([]byte(`null`)); Classify(err) != CodeInvalidParameter {
		t.Errorf("null process accepted")
	}
}

func TestRuntimeOptionsUseMobysShimopts(t *testing.T) {
	opts, err := decodeRuntimeOptions("io.containerd.runc.v2", []byte(`{"BinaryName":"/usr/sbin/runc","SystemdCgroup":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%T", opts); got != "*options.Options" {
		t.Fatalf("type %s", got)
	}
	if none, err := decodeRuntimeOptions("io.containerd.runc.v2", nil); err != nil || none != nil {
		t.Fatalf("no options: %v %v", none, err)
	}
}

func TestContainerdLineLevel(t *testing.T) {
	for line, want := range map[string]int{
		`time="x" level=info msg="hello"`:    LevelInfo,
		`time="x" level=warning msg="hello"`: LevelWarning,
		`time="x" level=error msg=x`:         LevelError,
		`time="x" level=debug msg=x`:         LevelDebug,
		`no level at all`:                    LevelInfo,
	} {
		if got := containerdLineLevel(line); got != want {
			t.Errorf("%q: %d, want %d", line, got, want)
		}
	}
}

func TestGateWaitsForCallbacksInFlight(t *testing.T) {
	var g gate
	if !g.enter() {
		t.Fatal("open gate refused")
	}
	released := make(chan struct{})
	go func() { time.Sleep(50 * time.Millisecond); close(released); g.leave() }()
	if !g.close(true, time.Second) {
		t.Fatal("close timed out")
	}
	select {
	case <-released:
	default:
		t.Fatal("close returned while a callback was in flight")
	}
	if g.enter() {
		t.Fatal("closed gate let a callback in")
	}
}
