package core

import (
	"errors"
	"io"
	"io/fs"

	"github.com/containerd/containerd/cio"
	"github.com/containerd/fifo"
	"github.com/docker/docker/libcontainerd/types"
)

// Stream is one end of a process's stdio as Python sees it: the reader of
// stdout/stderr or the writer of stdin (Moby's wrapper: closing it closes the
// process's stdin through containerd's CloseIO).
type Stream struct {
	r io.ReadCloser
	w io.WriteCloser
}

// Read reads into buf; 0 means end of stream, also once the stream was
// closed underneath (task deleted), so a reader never hangs or errors then.
func (s *Stream) Read(buf []byte) (int, error) {
	if s.r == nil {
		return 0, Errorf(CodeInvalidParameter, "stream is not readable")
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

// Write writes all of buf.
func (s *Stream) Write(buf []byte) (int, error) {
	if s.w == nil {
		return 0, Errorf(CodeInvalidParameter, "stream is not writable")
	}
	return s.w.Write(buf)
}

// Close closes this end.
func (s *Stream) Close() error {
	if s.w != nil {
		return s.w.Close()
	}
	return s.r.Close()
}

// stdioCallback is the libcontainerd StdioCallback for a Python attach
// callback; token 0 means none was given, and output is drained and dropped.
func stdioCallback(token uint64) types.StdioCallback {
	return func(dio *cio.DirectIO) (cio.IO, error) {
		if token == 0 {
			discardStdio(dio)
			return dio, nil
		}
		var ids [3]uint64
		if dio.Stdin != nil {
			ids[0] = Handles.Put(&Stream{w: dio.Stdin})
		}
		if dio.Stdout != nil {
			ids[1] = Handles.Put(&Stream{r: dio.Stdout})
		}
		if dio.Stderr != nil {
			ids[2] = Handles.Put(&Stream{r: dio.Stderr})
		}
		var err error
		if !intoPython(func() { err = callbacks.Stdio(token, ids[0], ids[1], ids[2]) }) {
			err = Errorf(CodeClosed, "the Python interpreter is shutting down")
		}
		if err != nil {
			for _, id := range ids {
				Handles.Release(id)
			}
			return nil, err
		}
		return dio, nil
	}
}

func discardStdio(dio *cio.DirectIO) {
	if dio.Stdin != nil {
		dio.Stdin.Close()
	}
	for _, r := range []io.ReadCloser{dio.Stdout, dio.Stderr} {
		if r != nil {
			go io.Copy(io.Discard, r)
		}
	}
}
