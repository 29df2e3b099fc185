package bridge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/errdefs"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/grpclog"
	"google.golang.org/grpc/status"

	"pylibctrd/core"
)

// The header's enum is the one table of error classes: these constants must
// carry exactly its values.
func TestCodesMatchHeader(t *testing.T) {
	header, err := os.ReadFile("../include/pylibctrd.h")
	if err != nil {
		t.Fatal(err)
	}
	enum := regexp.MustCompile(`(?s)enum pylibctrd_status \{(.*?)\}`).FindSubmatch(header)
	if enum == nil {
		t.Fatal("enum pylibctrd_status not found in the header")
	}
	ours := map[string]Code{
		"OK": CodeOK, "UNKNOWN": CodeUnknown, "NOT_FOUND": CodeNotFound, "CONFLICT": CodeConflict,
		"ALREADY_EXISTS": CodeAlreadyExists, "INVALID_PARAMETER": CodeInvalidParameter,
		"FAILED_PRECONDITION": CodeFailedPrecondition, "UNAVAILABLE": CodeUnavailable,
		"DEADLINE": CodeDeadline, "CANCELED": CodeCanceled, "NOT_IMPLEMENTED": CodeNotImplemented,
		"SYSTEM": CodeSystem, "FORBIDDEN": CodeForbidden, "INVALID_HANDLE": CodeInvalidHandle,
		"CLOSED": CodeClosed, "PANIC": CodePanic, "PENDING": CodePending,
		"UNAUTHORIZED": CodeUnauthorized,
	}
	entries := regexp.MustCompile(`PYLIBCTRD_(\w+)\s*=\s*(\d+)`).FindAllSubmatch(enum[1], -1)
	if len(entries) != len(ours) {
		t.Fatalf("header has %d classes, Go has %d", len(entries), len(ours))
	}
	for _, e := range entries {
		name := string(e[1])
		value, _ := strconv.Atoi(string(e[2]))
		code, ok := ours[name]
		if !ok {
			t.Errorf("header class %s has no Go constant", name)
		} else if int(code) != value {
			t.Errorf("%s: header %d, Go %d", name, value, code)
		}
	}
}

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
		{core.ErrClosed, CodeClosed},
		{fmt.Errorf("x: %w", core.ErrNotWritable), CodeInvalidParameter},
		{Errorf(CodeInvalidHandle, "gone"), CodeInvalidHandle},
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

func TestDecodeSpecIsStrict(t *testing.T) {
	for _, bad := range []string{`{"foo":1}`, `[]`, `{"ociVersion":"1"} x`, `{`} {
		if _, err := DecodeSpec([]byte(bad)); Classify(err) != CodeInvalidParameter {
			t.Errorf("DecodeSpec(%s) = %v, want InvalidParameter", bad, err)
		}
	}
	if _, err := DecodeResources([]byte(`null`)); Classify(err) != CodeInvalidParameter {
		t.Errorf("null resources accepted")
	}
	if _, err := decodeRuntimeOptions([]byte(`[1]`)); Classify(err) != CodeInvalidParameter {
		t.Errorf("non-object runtime options accepted")
	}
}

func TestTextSeparatesFieldsWithNUL(t *testing.T) {
	if got := string(Text("1.6.20", "abc").Data); got != "1.6.20\x00abc" {
		t.Fatalf("%q", got)
	}
	if !strings.Contains(string(Text("running").Data), "running") {
		t.Fatal("single field")
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

func TestRunningOutOfFDsIsASystemErrorNamingTheLimit(t *testing.T) {
	wrapped := fmt.Errorf("failed to create task for container: %w",
		&os.PathError{Op: "open", Path: "/x/c-stdout", Err: syscall.EMFILE})
	_, err := Protect(context.Background(), func(context.Context) (Result, error) { return Result{}, wrapped })
	if Classify(err) != CodeSystem || !strings.Contains(err.Error(), "RLIMIT_NOFILE") ||
		!strings.Contains(err.Error(), "too many open files") {
		t.Fatalf("got %v (class %d)", err, Classify(err))
	}
	other := errors.New("plain")
	if _, err := Protect(context.Background(), func(context.Context) (Result, error) { return Result{}, other }); err != other {
		t.Fatalf("other errors must pass unchanged, got %v", err)
	}
}

type levelsSeen struct {
	mu   sync.Mutex
	seen map[string]logrus.Level
}

func (*levelsSeen) Levels() []logrus.Level { return logrus.AllLevels }

func (h *levelsSeen) Fire(e *logrus.Entry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	// grpc writes a line to its own level's writer and every lower one:
	// keep the most severe level each message reached.
	for _, msg := range []string{"an info", "a warning", "an error"} {
		if strings.HasSuffix(strings.TrimSpace(e.Message), msg) {
			if old, ok := h.seen[msg]; !ok || e.Level < old {
				h.seen[msg] = e.Level
			}
		}
	}
	return nil
}

// grpc's lines arrive at dockerd's levels, not at swarmkit's (its init sets
// grpc's logger too, and would make a reconnect attempt a warning).
func TestGRPCLogsAtDockerdsLevels(t *testing.T) {
	installLogBridge()
	h := &levelsSeen{seen: map[string]logrus.Level{}}
	logrus.AddHook(h)
	logrus.SetLevel(logrus.TraceLevel)
	defer logrus.SetLevel(logrus.InfoLevel)
	grpclog.Info("an info")
	grpclog.Warning("a warning")
	grpclog.Error("an error")
	want := map[string]logrus.Level{
		"an info": logrus.TraceLevel, "a warning": logrus.DebugLevel, "an error": logrus.WarnLevel,
	}
	// Each writer has its own goroutine: wait for the levels or a deadline.
	matches := func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return maps.Equal(h.seen, want)
	}
	for deadline := time.Now().Add(5 * time.Second); !matches() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for msg, level := range want {
		if got, ok := h.seen[msg]; !ok || got != level {
			t.Errorf("%q: level %v (logged: %v), want %v", msg, got, ok, level)
		}
	}
}
