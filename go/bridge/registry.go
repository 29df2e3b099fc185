package bridge

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"

	registrytypes "github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/errdefs"

	"pylibctrd/core"
)

// DecodeRegistryOptions reads dockerd's daemon.json registry keys (and
// "certs-dir"); no data means none.
func DecodeRegistryOptions(data []byte) (core.RegistryOptions, error) {
	var o core.RegistryOptions
	if len(data) == 0 {
		return o, nil
	}
	return o, decodeStrict("registry options", data, &o)
}

// DecodeAuth reads Moby's AuthConfig JSON ("username", "password",
// "serveraddress", "identitytoken", "registrytoken"); no data means none.
func DecodeAuth(data []byte) (*registrytypes.AuthConfig, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var a registrytypes.AuthConfig
	if err := decodeStrict("auth", data, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// progressSink hands progress records to Python's on_event under key (0:
// none). The first error the Python callback raises cancels the operation
// and becomes its error.
type progressSink struct {
	key    uint64
	cancel context.CancelFunc
	mu     sync.Mutex
	err    error
}

func newProgressSink(ctx context.Context, key uint64) (context.Context, *progressSink) {
	ctx, cancel := context.WithCancel(ctx)
	return ctx, &progressSink{key: key, cancel: cancel}
}

func (s *progressSink) fn() core.ProgressFunc {
	if s.key == 0 {
		return nil
	}
	return func(p core.Progress) {
		if s.failed() != nil {
			return
		}
		payload, err := json.Marshal(p)
		if err == nil {
			if !intoPython(func() { err = callbacks.Event(s.key, payload) }) {
				err = Errorf(CodeClosed, "the Python interpreter is shutting down")
			}
		}
		if err != nil {
			s.mu.Lock()
			if s.err == nil {
				s.err = err
			}
			s.mu.Unlock()
			s.cancel()
		}
	}
}

func (s *progressSink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// result prefers the callback's error to the one its cancel caused.
func (s *progressSink) result(err error) error {
	s.cancel()
	if cbErr := s.failed(); cbErr != nil {
		return cbErr
	}
	return err
}

// Pull is core Pull with progress to Python.
func Pull(ctx context.Context, c *Client, ref, platform string, auth *registrytypes.AuthConfig, progressKey uint64) (Result, error) {
	ctx, sink := newProgressSink(ctx, progressKey)
	img, err := c.Pull(ctx, ref, core.PullOptions{Platform: platform, Auth: auth, Progress: sink.fn()})
	return OneImage(img, sink.result(err))
}

// Push is core Push with progress to Python; it answers the digest (text).
func Push(ctx context.Context, c *Client, ref string, auth *registrytypes.AuthConfig, progressKey uint64) (Result, error) {
	ctx, sink := newProgressSink(ctx, progressKey)
	dgst, err := c.Push(ctx, ref, auth, sink.fn())
	if err = sink.result(err); err != nil {
		return Result{}, err
	}
	return Text(dgst.String()), nil
}

// SaveToPath writes `docker save`'s tar to path as the docker CLI's
// `save -o` does: into a temporary file beside it, renamed when complete,
// so a failed save leaves no partial file.
func SaveToPath(ctx context.Context, c *Client, refs []string, path string) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".")
	if err != nil {
		if os.IsNotExist(err) {
			return errdefs.NotFound(err)
		}
		return errdefs.InvalidParameter(err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := c.Save(ctx, refs, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return errdefs.System(err)
	}
	if err := tmp.Close(); err != nil {
		return errdefs.System(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errdefs.System(err)
	}
	return nil
}

// DecodeRefs reads a JSON list of references.
func DecodeRefs(data []byte) ([]string, error) {
	var refs []string
	if err := decodeStrict("references", data, &refs); err != nil {
		return nil, err
	}
	return refs, nil
}
