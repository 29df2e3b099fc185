package bridge

import (
	"github.com/docker/docker/libcontainerd/types"
	"pylibctrd/internal/c8d/cio"

	"pylibctrd/core"
)

// StdioCallback is the libcontainerd StdioCallback for the Python attach
// callback `token`: it registers the streams as handles and passes them on.
// Token 0 means none was given: output is drained and dropped.
func StdioCallback(token uint64) types.StdioCallback {
	if token == 0 {
		return core.DiscardStdio
	}
	return func(dio *cio.DirectIO) (cio.IO, error) {
		var ids [3]uint64
		for i, s := range core.StreamsOf(dio) {
			if s != nil {
				ids[i] = Handles.Put(s)
			}
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
