package core

// Against real parts: a containerd started by Moby's supervisor, Debian's
// docker-registry (distribution 2.8) on a free 127.0.0.1 port, and skopeo
// copying a docker-save archive into it. Skipped where they are missing.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/registry"

	"pylibctrd/internal/c8d"
	"pylibctrd/internal/c8d/content"
)

type testRegistry struct {
	Host string // 127.0.0.1:port
	Data string
	cmd  *exec.Cmd
}

func needTools(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (containerd)")
	}
	for _, tool := range []string{"docker-registry", "skopeo", "containerd", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make system)", tool)
		}
	}
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startRegistry(t *testing.T) *testRegistry {
	t.Helper()
	dir := t.TempDir()
	r := &testRegistry{Host: fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)), Data: filepath.Join(dir, "data")}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", r.Data, r.Host)
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command("docker-registry", "serve", path)
	r.cmd.Stdout, r.cmd.Stderr = os.Stderr, os.Stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + r.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry did not start: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *testRegistry) Stop() {
	if r.cmd.Process != nil && r.cmd.ProcessState == nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// writeArchive writes a docker-save archive of one image whose layers hold
// random files (content no namespace has yet) and returns its path.
func writeArchive(t *testing.T, name string, layerSizes ...int) string {
	t.Helper()
	var diffIDs []string
	var layers [][]byte
	for i, size := range layerSizes {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		data := make([]byte, size)
		rand.Read(data)
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("file%d", i), Mode: 0o644, Size: int64(size), Typeflag: tar.TypeReg})
		tw.Write(data)
		tw.Close()
		sum := sha256.Sum256(buf.Bytes())
		diffIDs = append(diffIDs, "sha256:"+hex.EncodeToString(sum[:]))
		layers = append(layers, buf.Bytes())
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": goarch(), "os": "linux",
		"config": map[string]any{"Cmd": []string{"sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	cfgSum := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	var layerFiles []string
	path := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	add := func(name string, data []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	for i, l := range layers {
		name := strings.TrimPrefix(diffIDs[i], "sha256:") + "/layer.tar"
		add(name, l)
		layerFiles = append(layerFiles, name)
	}
	add(cfgName, cfg)
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{name}, "Layers": layerFiles}})
	add("manifest.json", manifest)
	tw.Close()
	f.Close()
	return path
}

func goarch() string {
	out, _ := exec.Command("go", "env", "GOARCH").Output()
	if s := strings.TrimSpace(string(out)); s != "" {
		return s
	}
	return "amd64"
}

func skopeoCopy(t *testing.T, archive, dest string) {
	t.Helper()
	out, err := exec.Command("skopeo", "copy", "--quiet", "--dest-tls-verify=false",
		"docker-archive:"+archive, "docker://"+dest).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo copy: %v: %s", err, out)
	}
}

func startClient(t *testing.T) *Client {
	t.Helper()
	dir := t.TempDir()
	d, err := StartDaemon(filepath.Join(dir, "root"), filepath.Join(dir, "state"), "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Stop(30 * time.Second) })
	c, err := Connect(context.Background(), ConnectOptions{
		Address: d.Address(), Namespace: "regtest", StateDir: filepath.Join(dir, "bundles"), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// leftovers lists what a pull must not leave behind: leases and ingests.
func leftovers(t *testing.T, c *Client) []string {
	t.Helper()
	ctx := c.ctx
	var out []string
	ls, err := c.c8d.LeasesService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		out = append(out, "lease "+l.ID)
	}
	st, err := c.c8d.ContentStore().ListStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		out = append(out, "ingest "+s.Ref)
	}
	return out
}

// blobs lists the content the namespace holds.
func blobs(t *testing.T, c *Client) []string {
	t.Helper()
	var out []string
	err := c.c8d.ContentStore().Walk(c.ctx, func(info content.Info) error {
		out = append(out, info.Digest.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPullPushTagSave(t *testing.T) {
	needTools(t)
	reg := startRegistry(t)
	c := startClient(t)
	ctx := context.Background()
	skopeoCopy(t, writeArchive(t, "x:1", 300_000, 200_000), reg.Host+"/test/multi:1")

	var mu sync.Mutex
	var progress []Progress
	img, err := c.Pull(ctx, reg.Host+"/test/multi:1", PullOptions{Progress: func(p Progress) {
		mu.Lock()
		progress = append(progress, p)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != reg.Host+"/test/multi:1" || img.Digest == "" {
		t.Fatalf("image %+v", img)
	}
	actions := map[string]int{}
	for _, p := range progress {
		actions[p.Action]++
	}
	for _, want := range []string{"Pulling fs layer", "Download complete"} {
		if actions[want] != 2 {
			t.Errorf("%q reported %d times, want 2 (one per layer): %+v", want, actions[want], progress)
		}
	}
	if left := leftovers(t, c); len(left) > 0 {
		t.Errorf("left after a pull: %v", left)
	}

	// The second pull finds everything.
	if _, err := c.Pull(ctx, reg.Host+"/test/multi:1", PullOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := c.Tag(ctx, reg.Host+"/test/multi:1", reg.Host+"/test/pushed:2"); err != nil {
		t.Fatal(err)
	}
	dgst, err := c.Push(ctx, reg.Host+"/test/pushed:2", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dgst != img.Digest {
		t.Errorf("pushed %s, want %s", dgst, img.Digest)
	}
	out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", "--raw", "docker://"+reg.Host+"/test/pushed:2").Output()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(out)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != dgst.String() {
		t.Errorf("registry has %s, push said %s", got, dgst)
	}

	var saved bytes.Buffer
	if err := c.Save(ctx, []string{reg.Host + "/test/pushed:2"}, &saved); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(saved.Bytes(), []byte("manifest.json")) {
		t.Errorf("save wrote no manifest.json (%d bytes)", saved.Len())
	}
}

func TestPullErrors(t *testing.T) {
	needTools(t)
	reg := startRegistry(t)
	c := startClient(t)
	ctx := context.Background()
	skopeoCopy(t, writeArchive(t, "x:1", 1000), reg.Host+"/test/one:1")

	for _, tc := range []struct {
		ref  string
		want func(error) bool
	}{
		{reg.Host + "/test/one:nosuchtag", errdefs.IsNotFound},
		{reg.Host + "/test/nosuchrepo:1", errdefs.IsNotFound},
		{"Upper/Case:1", errdefs.IsInvalidParameter},
		{"bad ref!", errdefs.IsInvalidParameter},
	} {
		_, err := c.Pull(ctx, tc.ref, PullOptions{})
		if !tc.want(err) {
			t.Errorf("pull %s: %v (%T)", tc.ref, err, err)
		}
	}
	// Moby's PullImage filters only an index's manifests by platform: an
	// image of one manifest is taken whatever the platform asked (the
	// differential suite's registry-pull-missing-platform holds it to Moby).
	if img, err := c.Pull(ctx, reg.Host+"/test/one:1", PullOptions{Platform: "linux/s390x"}); err != nil || img.Name != reg.Host+"/test/one:1" {
		t.Errorf("pull of a one-manifest image with another platform: %+v, %v", img, err)
	} else if err := c.RemoveImage(ctx, img.Name); err != nil {
		t.Error(err)
	}
	reg.Stop()
	start := time.Now()
	_, err := c.Pull(ctx, reg.Host+"/test/one:1", PullOptions{})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("registry down: %v after %s", err, time.Since(start))
	}
	if left := leftovers(t, c); len(left) > 0 {
		t.Errorf("left after failed pulls: %v", left)
	}
}

func TestPullCancelledLeavesNothing(t *testing.T) {
	needTools(t)
	reg := startRegistry(t)
	c := startClient(t)
	skopeoCopy(t, writeArchive(t, "x:1", 40_000_000), reg.Host+"/test/big:1")
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var once sync.Once
	errc := make(chan error, 1)
	go func() {
		_, err := c.Pull(ctx, reg.Host+"/test/big:1", PullOptions{Progress: func(p Progress) {
			if p.Action == "Downloading" {
				once.Do(func() { close(started) })
			}
		}})
		errc <- err
	}()
	select {
	case <-started:
	case err := <-errc:
		t.Fatalf("pull ended before downloading: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no download progress")
	}
	cancel()
	t0 := time.Now()
	if err := <-errc; err == nil {
		t.Fatal("cancelled pull succeeded")
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("cancel took %s", d)
	}
	if left := leftovers(t, c); len(left) > 0 {
		t.Errorf("left after a cancelled pull: %v", left)
	}
	if b := blobs(t, c); len(b) > 0 {
		t.Errorf("content after a cancelled pull: %v", b)
	}
	imgs, err := c.Images(context.Background())
	if err != nil || len(imgs) != 0 {
		t.Errorf("images after a cancelled pull: %v %v", imgs, err)
	}
	if _, err := c.Pull(context.Background(), reg.Host+"/test/big:1", PullOptions{}); err != nil {
		t.Fatalf("pull after cancel: %v", err)
	}
}

func TestCertsDirIsReplacedOrRefusedByFlavour(t *testing.T) {
	c := &Client{}
	first := registry.CertsDir() // in use (in v28 this fixes it, if nothing did before)
	if err := c.ConfigureRegistry(RegistryOptions{CertsDir: first}); err != nil {
		t.Fatalf("the certs-dir in use, again: %v", err)
	}
	other := t.TempDir()
	err := c.ConfigureRegistry(RegistryOptions{CertsDir: other})
	defer registry.SetCertsDir(first)
	if certsDirReplaceable {
		if err != nil || registry.CertsDir() != other {
			t.Fatalf("certs-dir not replaced: %v, %s", err, registry.CertsDir())
		}
		return
	}
	if !errdefs.IsConflict(err) || registry.CertsDir() != first {
		t.Fatalf("certs-dir %s replacing %s: %v, now %s; want a Conflict and %s kept", other, first, err, registry.CertsDir(), first)
	}
	for _, want := range []string{other, first, "Moby " + c8d.MobyVersion, "once per process"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}
}
