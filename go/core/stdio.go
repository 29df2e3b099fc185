package core

import (
	"context"
	"errors"
	"io"
	"io/fs"

	"github.com/containerd/fifo"
	"pylibctrd/internal/c8d/cio"
)

// Stream is one end of a process's stdio: the reader of stdout/stderr or the
// writer of stdin (Moby's wrapper: closing it closes the process's stdin
// through containerd's CloseIO).
type Stream struct {
	r    io.ReadCloser
	w    io.WriteCloser
	turn chan struct{} // one write at a time, also across cancelled ones
}

// StreamsOf wraps stdin, stdout and stderr of dio; each is nil where the
// process has none.
func StreamsOf(dio *cio.DirectIO) [3]*Stream {
	var s [3]*Stream
	if dio.Stdin != nil {
		s[0] = &Stream{w: dio.Stdin, turn: make(chan struct{}, 1)}
	}
	if dio.Stdout != nil {
		s[1] = &Stream{r: dio.Stdout}
	}
	if dio.Stderr != nil {
		s[2] = &Stream{r: dio.Stderr}
	}
	return s
}

// ErrNotReadable and ErrNotWritable are misuses of a Stream.
var (
	ErrNotReadable = errors.New("stream is not readable")
	ErrNotWritable = errors.New("stream is not writable")
)

// Read reads into buf; 0 means end of stream, also once the stream was
// closed underneath (task deleted), so a reader never hangs or errors then.
func (s *Stream) Read(buf []byte) (int, error) {
	if s.r == nil {
		return 0, ErrNotReadable
	}
	n, err := s.r.Read(buf)
	if n > 0 || err == nil || isEndOfStream(err) {
		return n, nil
	}
	return 0, err
}

func isEndOfStream(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, fs.ErrClosed) ||
		errors.Is(err, fifo.ErrReadClosed) || errors.Is(err, fifo.ErrCtrlClosed)
}

// Write writes all of buf. It blocks while the process does not read its
// stdin; if ctx ends first, Write returns ctx's error and the write goes on
// in the background until the process reads or its stdin is closed (buf must
// not be reused: the caller hands it over). The next Write waits for it, so
// writes never interleave.
func (s *Stream) Write(ctx context.Context, buf []byte) (int, error) {
	if s.w == nil {
		return 0, ErrNotWritable
	}
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if ctx.Done() == nil { // nothing can cancel it: write here
		defer func() { <-s.turn }()
		return s.w.Write(buf)
	}
	type written struct {
		n   int
		err error
	}
	done := make(chan written, 1)
	go func() {
		n, err := s.w.Write(buf)
		<-s.turn
		done <- written{n, err}
	}()
	select {
	case w := <-done:
		return w.n, w.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Close closes this end.
func (s *Stream) Close() error {
	if s.w != nil {
		return s.w.Close()
	}
	return s.r.Close()
}

// DiscardStdio is the StdioCallback for a caller that wants no IO: output is
// drained and dropped, stdin closed.
func DiscardStdio(dio *cio.DirectIO) (cio.IO, error) {
	if dio.Stdin != nil {
		dio.Stdin.Close()
	}
	for _, r := range []io.ReadCloser{dio.Stdout, dio.Stderr} {
		if r != nil {
			go io.Copy(io.Discard, r)
		}
	}
	return dio, nil
}
