package core

// Mounts, volumes and logs without containerd: Moby's parser and drivers
// on a temporary home.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/errdefs"
	"golang.org/x/sys/unix"
)

func requests(t *testing.T, js string) []MountRequest {
	t.Helper()
	var reqs []MountRequest
	if err := json.Unmarshal([]byte(js), &reqs); err != nil {
		t.Fatal(err)
	}
	return reqs
}

func TestMountsAreParsedWithMobysRulesAndMessages(t *testing.T) {
	src := t.TempDir()
	missing := filepath.Join(src, "nope")
	for _, c := range []struct{ req, want string }{
		{fmt.Sprintf(`[{"Type":"bind","Source":%q,"Target":"/w"}]`, missing),
			fmt.Sprintf(`invalid mount config for type "bind": bind source path does not exist: %s`, missing)},
		{fmt.Sprintf(`[%q]`, src+":rel"), "invalid mount path: 'rel' mount path must be absolute"},
		{fmt.Sprintf(`[%q]`, src+":/a/../"), "invalid specification: destination can't be '/'"},
		{fmt.Sprintf(`[%q]`, src+":/x:rx"), "invalid mode: rx"},
		{`[{"Type":"tmpfs","Target":"/t","Source":"x"}]`, `invalid mount config for type "tmpfs": field Source must not be specified`},
		{`[{"Tmpfs":"relative"}]`, "invalid mount path: 'relative' mount path must be absolute"},
		{fmt.Sprintf(`[%q, %q]`, src+":/d", src+":/d:ro"), "Duplicate mount point: /d"},
	} {
		_, err := ParseMounts(requests(t, c.req))
		if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want InvalidParameter containing %q", c.req, err, c.want)
		}
	}
	made := filepath.Join(src, "made", "by", "v")
	if _, err := ParseMounts(requests(t, fmt.Sprintf(`[%q]`, made+":/m"))); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(made); err != nil || !fi.IsDir() {
		t.Fatalf("a -v bind source is made as dockerd makes it: %v", err)
	}
	spec := DefaultSpec()
	reqs := requests(t, fmt.Sprintf(`[%q, "data:/var/data:ro,nocopy", {"Tmpfs":"/dev/shm:size=1m"},
		{"type":"tmpfs","target":"/scratch","TmpfsOptions":{"SizeBytes":1048576}}]`, src+":/work/ro:ro"))
	if err := ApplyMounts(spec, reqs, true); err != nil {
		t.Fatal(err)
	}
	if !spec.Root.Readonly {
		t.Error("--read-only not applied")
	}
	got := map[string]string{}
	shm := 0
	for _, m := range spec.Mounts {
		got[m.Destination] = m.Type + " " + m.Source + " " + strings.Join(m.Options, ",")
		if m.Destination == "/dev/shm" {
			shm++
		}
	}
	want := map[string]string{
		"/work/ro":  "bind " + src + " rbind,ro,rprivate",
		"/var/data": "volume data volume-driver=,ro,volume-nocopy",
		"/dev/shm":  "tmpfs tmpfs noexec,nosuid,nodev,rprivate,size=1m",
		"/scratch":  "tmpfs tmpfs noexec,nosuid,nodev,rprivate,size=1m",
	}
	for dest, w := range want {
		if got[dest] != w {
			t.Errorf("%s: got %q, want %q", dest, got[dest], w)
		}
	}
	if shm != 1 {
		t.Errorf("the default /dev/shm was not replaced: %d mounts", shm)
	}
}

func TestVolumesUseMobysLocalDriver(t *testing.T) {
	c := &Client{stateDir: filepath.Join(t.TempDir(), "state")}
	v, err := c.CreateVolume(context.Background(), "cache", map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Mountpoint != filepath.Join(c.RootfsHome(), "volumes", "cache", "_data") || v.Labels["k"] != "v" || v.Driver != "local" {
		t.Fatalf("volume %+v", v)
	}
	if _, err := c.CreateVolume(context.Background(), "a", nil); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("one-letter name: %v", err)
	}
	if _, err := c.createVolume("nosuch", "x1", nil); !errdefs.IsNotFound(err) ||
		err.Error() != "create x1: volume driver not found: nosuch" {
		t.Fatalf("unknown driver: %v", err)
	}
	// Copy-up into an empty volume, from the rootfs at the destination.
	rootfs := t.TempDir()
	os.MkdirAll(filepath.Join(rootfs, "etc/app"), 0o755)
	os.WriteFile(filepath.Join(rootfs, "etc/app/conf"), []byte("from image"), 0o644)
	spec := DefaultSpec()
	spec.Root.Path = rootfs
	if err := ApplyMounts(spec, requests(t, `["appconf:/etc/app"]`), false); err != nil {
		t.Fatal(err)
	}
	if err := c.bindVolumes(context.Background(), spec); err != nil {
		t.Fatal(err)
	}
	vols, _ := c.Volumes(context.Background())
	if len(vols) != 2 || vols[0].Name != "appconf" {
		t.Fatalf("volumes %+v", vols)
	}
	data, err := os.ReadFile(filepath.Join(vols[0].Mountpoint, "conf"))
	if string(data) != "from image" {
		t.Fatalf("copy-up: %q %v", data, err)
	}
	last := spec.Mounts[len(spec.Mounts)-1]
	if last.Type != "bind" || last.Source != vols[0].Mountpoint {
		t.Fatalf("volume not bound: %+v", last)
	}
}

func TestLogsGoThroughMobysDrivers(t *testing.T) {
	c := &Client{stateDir: filepath.Join(t.TempDir(), "state")}
	if _, err := c.StartLog("c1", LogConfig{Type: "json-file", Config: map[string]string{"max-sise": "1m"}}, nil, nil); !errdefs.IsInvalidParameter(err) ||
		err.Error() != "unknown log opt 'max-sise' for json-file log driver" {
		t.Fatalf("bad opt: %v", err)
	}
	if _, err := c.StartLog("c1", LogConfig{Type: "syslog"}, nil, nil); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("bad driver: %v", err)
	}
	for _, driver := range []string{"json-file", "local"} {
		id := "c-" + driver
		outR, outW := io.Pipe()
		errR, errW := io.Pipe()
		l, err := c.StartLog(id, LogConfig{Type: driver, Config: map[string]string{"max-size": "100k", "max-file": "2"}}, outR, errR)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		for i := 0; i < 20000; i++ {
			line := fmt.Sprintf("line %06d\n", i)
			want.WriteString(line)
			outW.Write([]byte(line))
		}
		errW.Write([]byte("oops\n"))
		outW.Close()
		errW.Close()
		if !l.Wait(context.Background(), 10*time.Second) {
			t.Fatal("copier did not end")
		}
		s, err := c.ReadLogs(id, LogReadOptions{Tail: -1, Stdout: true, Stderr: true})
		if err != nil {
			t.Fatal(err)
		}
		var out, errs bytes.Buffer
		for {
			entries, ended, err := s.Next(context.Background(), 1<<20, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if e.Stderr {
					errs.Write(e.Line)
				} else {
					out.Write(e.Line)
				}
			}
			if ended {
				break
			}
		}
		if errs.String() != "oops\n" || !strings.HasSuffix(want.String(), out.String()) || out.Len() == 0 || out.Len() > 300<<10 {
			t.Fatalf("%s: stderr %q, stdout %d bytes (rotation keeps at most 2 files of 100k)", driver, errs.String(), out.Len())
		}
		files, _ := filepath.Glob(filepath.Join(c.ContainerHome(id), "*"))
		t.Logf("%s: %v", driver, files)
	}
}

func TestLogFailuresAreCountedWhileTheCopierGoesOn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	c := &Client{stateDir: filepath.Join(t.TempDir(), "state")}
	home := c.ContainerHome("full")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	// A disk of two pages (hostconfig.json takes one): the driver's writes fail with ENOSPC once it is full.
	if err := unix.Mount("tmpfs", home, "tmpfs", 0, "size=8k"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(home, unix.MNT_DETACH)
	r, w := io.Pipe()
	l, err := c.StartLog("full", LogConfig{Type: "json-file"}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	const lines = 200 // about 12k of JSON
	for i := 0; i < lines; i++ {
		if _, err := fmt.Fprintf(w, "line %d\n", i); err != nil {
			t.Fatal(err) // the copier keeps reading: the writer never blocks
		}
	}
	w.Close()
	if !l.Wait(context.Background(), 10*time.Second) {
		t.Fatal("the log did not end")
	}
	f := l.Failures()
	if f.Count == 0 || f.Count >= lines || !strings.Contains(f.LastError, "no space left on device") || f.LastAt.IsZero() {
		t.Fatalf("failures: %+v", f)
	}
}

func TestRestartPoliciesAreMobys(t *testing.T) {
	for text, want := range map[string]string{
		"sometimes":     "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'",
		"always:3":      "invalid restart policy: maximum retry count can only be used with 'on-failure'",
		"on-failure:x":  "invalid restart policy format: maximum retry count must be an integer",
		"on-failure:-1": "invalid restart policy: maximum retry count cannot be negative",
		":1":            "invalid restart policy format: no policy provided before colon",
	} {
		if _, err := ParseRestartPolicy(text); !errdefs.IsInvalidParameter(err) || err.Error() != want {
			t.Errorf("%s: got %v, want %q", text, err, want)
		}
	}
	p, err := ParseRestartPolicy("on-failure:2")
	if err != nil || p.Name != "on-failure" || p.MaximumRetryCount != 2 {
		t.Fatalf("%+v %v", p, err)
	}
	if p, _ := ParseRestartPolicy(""); p.Name != "no" {
		t.Fatalf("no --restart is %q", p.Name)
	}
	m, err := NewRestartManager(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := m.ShouldRestart(0, false, time.Second); ok || err != nil {
		t.Fatalf("on-failure restarted after exit 0: %v %v", ok, err)
	}
	for i := 0; i < 2; i++ {
		start := time.Now()
		if ok, err := m.ShouldRestart(1, false, time.Second); !ok || err != nil {
			t.Fatalf("restart %d: %v %v", i, ok, err)
		}
		if ok, err := m.WaitRestart(context.Background(), -1); !ok || err != nil {
			t.Fatalf("wait %d: %v %v", i, ok, err)
		}
		// Moby's backoff: 100ms, then doubled.
		if d := time.Since(start); d < (100<<i)*time.Millisecond {
			t.Fatalf("restart %d after %v", i, d)
		}
	}
	if ok, _ := m.ShouldRestart(1, false, time.Second); ok {
		t.Fatal("on-failure:2 restarted a third time")
	}
	a, _ := NewRestartManager(RestartPolicy{Name: "unless-stopped"}, 0)
	if ok, _ := a.ShouldRestart(0, true, time.Second); ok {
		t.Fatal("unless-stopped restarted a stopped container")
	}
	if ok, _ := a.ShouldRestart(0, false, time.Second); !ok {
		t.Fatal("unless-stopped did not restart")
	}
	a.Cancel()
	if ok, err := a.WaitRestart(context.Background(), -1); ok || !errdefs.IsCancelled(err) {
		t.Fatalf("a canceled restart: %v %v", ok, err)
	}
	if ok, err := a.ShouldRestart(0, false, time.Second); ok || !errdefs.IsCancelled(err) {
		t.Fatalf("after cancel: %v %v", ok, err)
	}
}
