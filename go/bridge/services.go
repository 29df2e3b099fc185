package bridge

// Mounts, volumes and logs on the wire (core/mounts.go, volumes.go, logs.go).

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"time"

	"github.com/docker/docker/api/types"
	"golang.org/x/sys/unix"

	"pylibctrd/core"
)

// ApplyMounts answers the spec with the mounts laid in (JSON).
func ApplyMounts(specJSON, mountsJSON []byte, readOnly bool) (Result, error) {
	spec, err := DecodeSpec(specJSON)
	if err != nil {
		return Result{}, err
	}
	var reqs []core.MountRequest
	if len(mountsJSON) > 0 {
		if err := json.Unmarshal(mountsJSON, &reqs); err != nil {
			return Result{}, Errorf(CodeInvalidParameter, "mounts are not valid: %v", err)
		}
	}
	if err := core.ApplyMounts(spec, reqs, readOnly); err != nil {
		return Result{}, err
	}
	return JSON(spec)
}

func volumeRecord(v core.Volume) map[string]any {
	return map[string]any{"name": v.Name, "driver": v.Driver, "mountpoint": v.Mountpoint,
		"created_at": unixNanos(v.CreatedAt), "labels": v.Labels}
}

// OneVolume answers {"name", "driver", "mountpoint", "created_at", "labels"}.
func OneVolume(v core.Volume, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return JSON(volumeRecord(v))
}

// Volumes answers [volume record].
func Volumes(vs []core.Volume, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	out := make([]map[string]any, 0, len(vs))
	for _, v := range vs {
		out = append(out, volumeRecord(v))
	}
	return JSON(out)
}

// DecodeLabels reads a JSON object of strings (nil for none).
func DecodeLabels(data []byte) (map[string]string, error) { return decodeLabels(data) }

// Log is a container's log being written, and the pipes a tee hands on.
type Log struct {
	*core.ContainerLog
}

// StartLog takes the stdout and stderr streams (either may be 0) and logs
// them through container id's logger. With tee, each stream is also copied
// into a pipe whose read end (an fd, answered as text "<out>\0<err>", -1
// for none) the caller takes over: the log waits for that reader.
func StartLog(c *Client, id string, cfg core.LogConfig, stdout, stderr uint64, tee bool) (Result, error) {
	for _, h := range []uint64{stdout, stderr} {
		if h != 0 {
			if _, err := Lookup[*core.Stream](h); err != nil {
				return Result{}, err
			}
		}
	}
	if err := core.ValidateLogConfig(cfg); err != nil {
		return Result{}, err // before the streams are taken: the caller keeps them
	}
	var readers [2]io.Reader
	var fds [2]int
	var pipes []*os.File
	for i, h := range []uint64{stdout, stderr} {
		fds[i] = -1
		s, err := TakeStream(h)
		if err != nil || s == nil {
			continue
		}
		r := io.Reader(readerOf{s})
		if tee {
			pr, pw, err := os.Pipe()
			if err != nil {
				s.Close()
				return Result{}, err
			}
			fds[i] = int(pr.Fd())
			pipes = append(pipes, pr)
			r = &teeReader{r: r, w: pw}
		}
		readers[i] = &closingReader{Reader: r, s: s}
	}
	l, err := c.StartLog(id, cfg, readers[0], readers[1])
	if err != nil {
		for _, r := range readers {
			if r != nil {
				r.(*closingReader).Close()
			}
		}
		for _, p := range pipes {
			p.Close()
		}
		return Result{}, err
	}
	for _, p := range pipes {
		// The caller owns the read ends: keep the fds open past the *os.File.
		dup, err := dupCloexec(int(p.Fd()))
		if err != nil {
			return Result{}, err
		}
		for i := range fds {
			if fds[i] == int(p.Fd()) {
				fds[i] = dup
			}
		}
		p.Close()
	}
	res, err := Handle(&Log{l}, nil)
	res.Data = Text(itoa(fds[0]), itoa(fds[1])).Data
	return res, err
}

// readerOf reads a Stream as an io.Reader (0 bytes: EOF).
type readerOf struct{ s *core.Stream }

func (r readerOf) Read(p []byte) (int, error) {
	n, err := r.s.Read(p)
	if n == 0 && err == nil {
		return 0, io.EOF
	}
	return n, err
}

// teeReader copies what it reads into w and closes w at the end.
type teeReader struct {
	r io.Reader
	w *os.File
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		if _, werr := t.w.Write(p[:n]); werr != nil {
			t.w.Close() // the reader went away: logging goes on
		}
	}
	if err != nil {
		t.w.Close()
	}
	return n, err
}

// closingReader closes its stream once read to its end.
type closingReader struct {
	io.Reader
	s *core.Stream
}

func (c *closingReader) Read(p []byte) (int, error) {
	n, err := c.Reader.Read(p)
	if err != nil {
		c.s.Close()
	}
	return n, err
}

func (c *closingReader) Close() {
	if t, ok := c.Reader.(*teeReader); ok {
		t.w.Close()
	}
	c.s.Close()
}

// LogEntries answers entries as records: 1 byte stream (1 stdout, 2
// stderr), 8 bytes time (Unix ns, little-endian), 4 bytes length, the line.
// number: 1 once the log ended.
func LogEntries(entries []core.LogEntry, ended bool, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	size := 0
	for _, e := range entries {
		size += 13 + len(e.Line)
	}
	buf := make([]byte, 0, size)
	for _, e := range entries {
		stream := byte(1)
		if e.Stderr {
			stream = 2
		}
		buf = append(buf, stream)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Time.UnixNano()))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(e.Line)))
		buf = append(buf, e.Line...)
	}
	res := Result{Data: buf}
	if ended {
		res.Number = 1
	}
	return res, nil
}

// NextLogs is LogStream.Next with the wire's arguments.
func NextLogs(ctx context.Context, s *core.LogStream, max int, timeout time.Duration) (Result, error) {
	if max <= 0 {
		max = 1 << 20
	}
	return LogEntries(s.Next(ctx, max, timeout))
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func dupCloexec(fd int) (int, error) {
	return unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
}

// DecodeHealthConfig reads docker's HealthConfig (the image config's
// Healthcheck: durations in nanoseconds).
func DecodeHealthConfig(data []byte) (core.HealthConfig, error) {
	var cfg core.HealthConfig
	if err := decodeStrict("health check config", data, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Health answers {"status", "failing_streak", "log": [{"start", "end", "exit_code", "output"}]}.
func Health(h types.Health, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	return JSON(healthRecord(h))
}

func healthRecord(h types.Health) map[string]any {
	log := make([]map[string]any, 0, len(h.Log))
	for _, r := range h.Log {
		log = append(log, map[string]any{"start": unixNanos(r.Start), "end": unixNanos(r.End),
			"exit_code": r.ExitCode, "output": r.Output})
	}
	return map[string]any{"status": h.Status, "failing_streak": h.FailingStreak, "log": log}
}

// HealthUpdate answers {"seq", "ended", "health": <as Health>, "docker":
// Moby's types.Health as docker inspect shows State.Health, "events":
// [{"seq", "action", "status", "time"}]}.
func HealthUpdate(u core.HealthUpdate, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	events := make([]map[string]any, 0, len(u.Events))
	for _, e := range u.Events {
		events = append(events, map[string]any{"seq": e.Seq, "action": e.Action, "status": e.Status,
			"time": unixNanos(e.Time)})
	}
	return JSON(map[string]any{"seq": u.Seq, "ended": u.Ended, "health": healthRecord(u.Health),
		"docker": u.Health, "events": events})
}

// RunHealthcheck answers docker run's health check (JSON HealthConfig, or
// null for none) from its flags (a JSON list of strings) and the image's
// Healthcheck (JSON, empty for none).
func RunHealthcheck(flagsJSON, imageJSON []byte) (Result, error) {
	var args []string
	if len(flagsJSON) > 0 {
		if err := decodeStrict("health flags", flagsJSON, &args); err != nil {
			return Result{}, err
		}
	}
	var image *core.HealthConfig
	if len(imageJSON) > 0 && string(imageJSON) != "null" {
		cfg, err := DecodeHealthConfig(imageJSON)
		if err != nil {
			return Result{}, err
		}
		image = &cfg
	}
	cfg, err := core.RunHealthcheck(args, image)
	if err != nil {
		return Result{}, err
	}
	return JSON(cfg)
}

// StateText answers docker ps' STATUS (text) for {"running", "paused",
// "restarting", "started_at", "finished_at" (Unix ns, 0: none),
// "exit_code", "health"}.
func StateText(data []byte) (Result, error) {
	var in struct {
		Running, Paused, Restarting bool
		StartedAt                   int64 `json:"started_at"`
		FinishedAt                  int64 `json:"finished_at"`
		ExitCode                    int   `json:"exit_code"`
		Health                      string
	}
	if err := decodeStrict("state", data, &in); err != nil {
		return Result{}, err
	}
	at := func(ns int64) time.Time {
		if ns == 0 {
			return time.Time{}
		}
		return time.Unix(0, ns).UTC()
	}
	return Text(core.StateText(core.StateInput{Running: in.Running, Paused: in.Paused,
		Restarting: in.Restarting, StartedAt: at(in.StartedAt), FinishedAt: at(in.FinishedAt),
		ExitCode: in.ExitCode, Health: in.Health})), nil
}
