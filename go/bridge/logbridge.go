package bridge

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
	"google.golang.org/grpc/grpclog"
)

// Python logging levels, used as the ABI's log levels.
const (
	LevelDebug    = 10
	LevelInfo     = 20
	LevelWarning  = 30
	LevelError    = 40
	LevelCritical = 50
)

// logHook forwards Moby's and containerd's logrus entries to Python.
type logHook struct{}

func (logHook) Levels() []logrus.Level { return logrus.AllLevels }

func (logHook) Fire(e *logrus.Entry) error {
	forwardLog(pyLevel(e.Level), formatEntry(e))
	return nil
}

func formatEntry(e *logrus.Entry) string {
	var b strings.Builder
	b.WriteString(e.Message)
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := e.Data[k]
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		fmt.Fprintf(&b, " %s=%q", k, fmt.Sprint(v))
	}
	return b.String()
}

func pyLevel(l logrus.Level) int {
	switch l {
	case logrus.TraceLevel, logrus.DebugLevel:
		return LevelDebug
	case logrus.InfoLevel:
		return LevelInfo
	case logrus.WarnLevel:
		return LevelWarning
	case logrus.ErrorLevel:
		return LevelError
	default:
		return LevelCritical
	}
}

// SetLogLevel sets the lowest level forwarded, as a Python logging number,
// so that debug lines cost nothing unless Python wants them.
func SetLogLevel(level int) {
	minLevel.Store(int64(level))
	switch {
	case level <= LevelDebug:
		logrus.SetLevel(logrus.DebugLevel)
	case level <= LevelInfo:
		logrus.SetLevel(logrus.InfoLevel)
	case level <= LevelWarning:
		logrus.SetLevel(logrus.WarnLevel)
	case level <= LevelError:
		logrus.SetLevel(logrus.ErrorLevel)
	default:
		logrus.SetLevel(logrus.FatalLevel)
	}
}

// minLevel is the lowest Python level forwarded (containerd's own lines are
// filtered here too, before they cost a call into Python).
var minLevel atomic.Int64

func forwardLog(level int, msg string) {
	if int64(level) < minLevel.Load() {
		return
	}
	intoPython(func() { callbacks.Log(level, msg) })
}

var logBridgeOnce sync.Once

func installLogBridge() {
	logBridgeOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.AddHook(logHook{})
		// grpc's lines at dockerd's levels (cmd/dockerd/grpclog.go: info as
		// trace, warnings as debug, errors as warnings). Otherwise swarmkit's
		// init, linked in with Moby's image service, logs every reconnect
		// attempt (as while the embedded containerd starts) as a warning.
		l := logrus.WithField("library", "grpc")
		grpclog.SetLoggerV2(grpclog.NewLoggerV2(l.WriterLevel(logrus.TraceLevel),
			l.WriterLevel(logrus.DebugLevel), l.WriterLevel(logrus.WarnLevel)))
	})
}

var (
	daemonOutputOnce sync.Once
	// The replaced *os.File values must stay reachable: their finalizers
	// would otherwise close fds 1 and 2 under Python's feet.
	originalStdout, originalStderr *os.File
)

// CaptureDaemonOutput points Go's os.Stdout/os.Stderr at a pipe whose lines go
// to Python logging. Moby's supervisor hands these to the containerd child it
// starts, so containerd's own log lines reach Python too (prefixed so they can
// be told apart). The process's fds 1 and 2 are untouched.
func CaptureDaemonOutput() {
	daemonOutputOnce.Do(func() {
		r, w, err := os.Pipe()
		if err != nil {
			return
		}
		originalStdout, originalStderr = os.Stdout, os.Stderr
		os.Stdout, os.Stderr = w, w
		go func() {
			sc := bufio.NewScanner(r)
			sc.Buffer(make([]byte, 64*1024), 1024*1024)
			for sc.Scan() {
				line := sc.Text()
				forwardLog(containerdLineLevel(line), "containerd: "+line)
			}
		}()
	})
}

// containerdLineLevel reads logrus's text format ("level=warning msg=...").
func containerdLineLevel(line string) int {
	i := strings.Index(line, "level=")
	if i < 0 {
		return LevelInfo
	}
	word := line[i+len("level="):]
	if j := strings.IndexByte(word, ' '); j >= 0 {
		word = word[:j]
	}
	switch strings.Trim(word, `"`) {
	case "trace", "debug":
		return LevelDebug
	case "info":
		return LevelInfo
	case "warning", "warn":
		return LevelWarning
	case "error":
		return LevelError
	default:
		return LevelCritical
	}
}
