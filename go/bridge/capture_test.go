package bridge

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"pylibctrd/internal/c8d/cio"

	"pylibctrd/core"
)

// pipes gives stdout and stderr Streams over OS pipes, and their write ends.
func pipes(t *testing.T) (stdout, stderr *core.Stream, wout, werr io.WriteCloser) {
	t.Helper()
	ro, wo, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	re, we, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	dio := &cio.DirectIO{}
	dio.Stdout, dio.Stderr = ro, re
	s := core.StreamsOf(dio)
	return s[1], s[2], wo, we
}

func TestCaptureCollectsBothStreamsToTheirEnd(t *testing.T) {
	stdout, stderr, wout, werr := pipes(t)
	c := NewCapture(stdout, stderr)
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB: many reads
	go func() { wout.Write(big); wout.Close() }()
	if ended, err := c.Wait(context.Background(), 20*time.Millisecond); ended || err != nil {
		t.Fatalf("stderr is still open, yet Wait = %v, %v", ended, err)
	}
	werr.Write([]byte("oops\n"))
	werr.Close()
	if ended, err := c.Wait(context.Background(), 10*time.Second); !ended || err != nil {
		t.Fatalf("Wait = %v, %v after both ended", ended, err)
	}
	for i := 0; i < 100; i++ { // a zero timeout still sees the end
		if ended, _ := c.Wait(context.Background(), 0); !ended {
			t.Fatal("Wait(0) after the end = false")
		}
	}
	if !bytes.Equal(c.Output(0), big) || string(c.Output(1)) != "oops\n" {
		t.Fatalf("captured %d bytes and %q", len(c.Output(0)), c.Output(1))
	}
}

func TestCaptureWaitFollowsItsContext(t *testing.T) {
	stdout, _, wout, _ := pipes(t)
	defer wout.Close()
	c := NewCapture(stdout, nil) // no stderr: only stdout counts
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ended, err := c.Wait(ctx, -1); ended || !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, %v on a cancelled context", ended, err)
	}
}

func TestTakeStreamMovesOnlyStreams(t *testing.T) {
	stdout, _, wout, _ := pipes(t)
	defer wout.Close()
	h := Handles.Put(stdout)
	if s, err := TakeStream(h); s != stdout || err != nil {
		t.Fatalf("TakeStream = %v, %v", s, err)
	}
	if _, err := Lookup[*core.Stream](h); Classify(err) != CodeInvalidHandle {
		t.Fatalf("the taken handle is still there: %v", err)
	}
	other := Handles.Put("not a stream")
	defer Handles.Release(other)
	if _, err := TakeStream(other); Classify(err) != CodeInvalidHandle {
		t.Fatalf("TakeStream of a string: %v", err)
	}
	if s, err := TakeStream(0); s != nil || err != nil {
		t.Fatalf("TakeStream(0) = %v, %v", s, err)
	}
}
