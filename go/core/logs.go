package core

// Container logs through Moby's own log drivers (daemon/logger/jsonfilelog
// and local): the logger is made by Moby's container.StartLogger (its file
// layout under <home>/containers/<id>/, its non-blocking ring buffer), fed
// by Moby's logger.Copier from the FIFOs, and read back with the driver's
// ReadLogs. The log config is kept in <home>/containers/<id>/hostconfig.json
// (dockerd's file name) so that any later reader finds the driver.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/containerd/identifiers"
	containertypes "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/container"
	"github.com/docker/docker/daemon/logger"
	"github.com/docker/docker/daemon/logger/jsonfilelog"
	"github.com/docker/docker/daemon/logger/local"
	"github.com/docker/docker/errdefs"
)

// LogConfig is docker's --log-driver and --log-opt.
type LogConfig = containertypes.LogConfig

// ContainerHome is dockerd's /var/lib/docker/containers/<id> for this client.
func (c *Client) ContainerHome(id string) string {
	return filepath.Join(c.RootfsHome(), "containers", id)
}

type hostConfigFile struct {
	LogConfig LogConfig
}

// live loggers of this process, by container id: a follower must read the
// logger that writes (Moby's LogFile wakes its followers on write and ends
// them on close).
var (
	liveMu   sync.Mutex
	liveLogs = map[string]*ContainerLog{}
)

// ContainerLog is one container's logger and the copier feeding it.
type ContainerLog struct {
	id     string
	logger logger.Logger
	copier *logger.Copier
	done   chan struct{}
}

// ValidateLogConfig is dockerd's check of --log-driver/--log-opt at create
// (its messages), for the drivers this library has: json-file and local.
func ValidateLogConfig(cfg LogConfig) error {
	switch cfg.Type {
	case jsonfilelog.Name, local.Name:
	default:
		return errdefs.InvalidParameter(fmt.Errorf("logger: no log driver named '%s' is registered", cfg.Type))
	}
	if err := logger.ValidateLogOpts(cfg.Type, cfg.Config); err != nil {
		return errdefs.InvalidParameter(err)
	}
	return nil
}

func (c *Client) mobyContainer(id string, cfg LogConfig) *container.Container {
	return &container.Container{
		ID:         id,
		Root:       c.ContainerHome(id),
		Config:     &containertypes.Config{},
		HostConfig: &containertypes.HostConfig{LogConfig: cfg},
	}
}

// StartLog makes container id's logger (recording its config) and copies
// stdout and stderr (either may be nil) into it until both end; then the
// logger is closed.
func (c *Client) StartLog(id string, cfg LogConfig, stdout, stderr io.Reader) (*ContainerLog, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if err := identifiers.Validate(id); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if cfg.Config == nil {
		cfg.Config = map[string]string{}
	}
	if err := ValidateLogConfig(cfg); err != nil {
		return nil, err
	}
	dir := c.ContainerHome(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errdefs.System(err)
	}
	data, _ := json.Marshal(hostConfigFile{LogConfig: cfg})
	if err := os.WriteFile(filepath.Join(dir, "hostconfig.json"), data, 0o600); err != nil {
		return nil, errdefs.System(err)
	}
	l, err := c.mobyContainer(id, cfg).StartLogger()
	if err != nil {
		return nil, errdefs.InvalidParameter(err) // the driver refused an option (max-size=...)
	}
	srcs := map[string]io.Reader{}
	if stdout != nil {
		srcs["stdout"] = stdout
	}
	if stderr != nil {
		srcs["stderr"] = stderr
	}
	cl := &ContainerLog{id: id, logger: l, copier: logger.NewCopier(srcs, l), done: make(chan struct{})}
	liveMu.Lock()
	liveLogs[id] = cl
	liveMu.Unlock()
	cl.copier.Run()
	go func() {
		cl.copier.Wait()
		cl.copier.Close()
		liveMu.Lock()
		if liveLogs[id] == cl {
			delete(liveLogs, id)
		}
		liveMu.Unlock()
		l.Close()
		close(cl.done)
	}()
	return cl, nil
}

// Wait waits until both streams ended and the logger is closed (true), or
// timeout (< 0: none) passed or ctx ended (false).
func (l *ContainerLog) Wait(ctx context.Context, timeout time.Duration) bool {
	ended, _ := WaitClosed(ctx, l.done, timeout)
	return ended
}

// LogReadOptions are `docker logs`' options.
type LogReadOptions struct {
	Follow         bool
	Since, Until   time.Time
	Tail           int // < 0: all
	Stdout, Stderr bool
}

// LogStream is one reading of a container's log.
type LogStream struct {
	watcher *logger.LogWatcher
	opened  logger.Logger // a logger made only to read, closed with the stream
	o       LogReadOptions
	ended   bool
	once    sync.Once
}

// LogEntry is one line read back.
type LogEntry struct {
	Stderr bool
	Time   time.Time
	Line   []byte
}

// ReadLogs reads container id's log as `docker logs` does: from the logger
// this process writes with if there is one (only then can it follow; as in
// dockerd, following a log nobody writes ends at its end), else from the
// files, with the driver recorded for it.
func (c *Client) ReadLogs(id string, o LogReadOptions) (*LogStream, error) {
	if c.closed.Load() {
		return nil, ErrClosed
	}
	if err := identifiers.Validate(id); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if !o.Until.IsZero() && !o.Since.IsZero() && o.Until.Before(o.Since) {
		return nil, errdefs.InvalidParameter(errors.New("invalid value for \"until\": must be after \"since\""))
	}
	liveMu.Lock()
	live := liveLogs[id]
	liveMu.Unlock()
	s := &LogStream{o: o}
	l := logger.Logger(nil)
	if live != nil {
		l = live.logger
	} else {
		data, err := os.ReadFile(filepath.Join(c.ContainerHome(id), "hostconfig.json"))
		if os.IsNotExist(err) {
			return nil, errdefs.NotFound(fmt.Errorf("no logs for container %s: it was not run with a log driver", id))
		} else if err != nil {
			return nil, errdefs.System(err)
		}
		var hc hostConfigFile
		if err := json.Unmarshal(data, &hc); err != nil {
			return nil, errdefs.System(err)
		}
		if l, err = c.mobyContainer(id, hc.LogConfig).StartLogger(); err != nil {
			return nil, err
		}
		s.opened = l
		o.Follow = false
	}
	reader, ok := l.(logger.LogReader)
	if !ok {
		if s.opened != nil {
			s.opened.Close()
		}
		return nil, logger.ErrReadLogsNotSupported{}
	}
	s.watcher = reader.ReadLogs(logger.ReadConfig{Since: o.Since, Until: o.Until, Tail: o.Tail, Follow: o.Follow})
	return s, nil
}

// Next returns the next entries, at least one unless the log ended (true)
// or timeout (< 0: none) passed or ctx ended (its error); at most about
// maxBytes of lines.
func (s *LogStream) Next(ctx context.Context, maxBytes int, timeout time.Duration) ([]LogEntry, bool, error) {
	if s.ended {
		return nil, true, nil
	}
	expired, stop := Expiry(timeout)
	defer stop()
	var out []LogEntry
	size := 0
	for size < maxBytes {
		var msg *logger.Message
		var ok bool
		if len(out) == 0 {
			select {
			case msg, ok = <-s.watcher.Msg:
			case err := <-s.watcher.Err:
				return s.fail(err)
			case <-expired:
				return nil, false, nil
			case <-ctx.Done():
				return nil, false, ctx.Err()
			}
		} else {
			select {
			case msg, ok = <-s.watcher.Msg:
			default:
				return out, false, nil
			}
		}
		if !ok {
			s.ended = true
			s.Close()
			return out, len(out) == 0, nil
		}
		if (msg.Source == "stdout" && s.o.Stdout) || (msg.Source == "stderr" && s.o.Stderr) {
			out = append(out, LogEntry{Stderr: msg.Source == "stderr", Time: msg.Timestamp, Line: append([]byte(nil), msg.Line...)})
			size += len(msg.Line)
		}
		logger.PutMessage(msg)
	}
	return out, false, nil
}

func (s *LogStream) fail(err error) ([]LogEntry, bool, error) {
	s.ended = true
	s.Close()
	if err == nil {
		return nil, true, nil
	}
	return nil, true, err
}

// Close stops reading.
func (s *LogStream) Close() {
	s.once.Do(func() {
		s.watcher.ConsumerGone()
		if s.opened != nil {
			s.opened.Close()
		}
	})
}

// removeContainerHome drops the logs and log config of container id (with
// the container, as `docker rm` does).
func (c *Client) removeContainerHome(id string) {
	if identifiers.Validate(id) == nil {
		os.RemoveAll(c.ContainerHome(id))
	}
}
