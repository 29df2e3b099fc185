package bridge

import (
	"errors"
	"syscall"

	"golang.org/x/sys/unix"
)

// withFDLimit makes running out of file descriptors a System error that
// names the limit: Go's own message ("too many open files") does not, and
// libcontainerd wraps it into an unclassed error (FIFO opens, dials).
func withFDLimit(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EMFILE):
		var lim unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil {
			return Errorf(CodeSystem, "%v (the process's open file limit, RLIMIT_NOFILE, is reached)", err)
		}
		return Errorf(CodeSystem, "%v (the process's open file limit, RLIMIT_NOFILE, is reached: %d; raise it, e.g. ulimit -n)", err, lim.Cur)
	case errors.Is(err, syscall.ENFILE):
		return Errorf(CodeSystem, "%v (the system's open file limit, fs.file-max, is reached)", err)
	}
	return err
}
