package main

// Images on the reference side: Moby's containerd ImageService built as
// dockerd's daemon.go builds it (ctrd.NewService with the containerd client,
// the daemon's container store, the overlayfs snapshotter, an events
// service, the identity mapping, Moby's ref-counting mounter, and a registry
// service with dockerd's RegistryHosts over it), and each op as dockerd's
// API handlers and container lifecycle call it. Nothing here comes from pylibctrd's go/core.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/containerd"
	containerdimages "github.com/containerd/containerd/images"
	"github.com/containerd/containerd/leases"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/backend"
	containertypes "github.com/docker/docker/api/types/container"
	imagetypes "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/container"
	ctrd "github.com/docker/docker/daemon/containerd"
	daemonevents "github.com/docker/docker/daemon/events"
	"github.com/docker/docker/daemon/initlayer"
	"github.com/docker/docker/daemon/snapshotter"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/image"
	"github.com/docker/docker/pkg/idtools"
	"github.com/docker/docker/registry"

	"pylibctrd/cmd/internal/harness"
)

// driver is dockerd's default snapshotter with the containerd store.
const driver = "overlayfs"

type imageService struct {
	c8d        *containerd.Client
	svc        *ctrd.ImageService
	containers container.Store // dockerd's daemon.containers: ImageDelete's in-use check
	home       string          // dockerd's config.Root
}

func (r *runner) images() *imageService {
	r.imgOnce.Do(func() {
		idMapping := idtools.IdentityMapping{}
		home := r.stateDir + "-images"
		store := container.NewMemoryStore()
		c8d := r.clients["main"].c8d
		// dockerd's registry service with an empty daemon.json (127.0.0.0/8
		// is insecure, as always): empty options cannot fail.
		regSvc, _ := registry.NewService(registry.ServiceOptions{})
		r.img = &imageService{c8d: c8d, containers: store, home: home, svc: ctrd.NewService(ctrd.ImageServiceConfig{
			Client:          c8d,
			Containers:      store,
			Snapshotter:     driver,
			RegistryHosts:   harness.RegistryHosts(regSvc),
			Registry:        regSvc,
			EventsService:   daemonevents.New(),
			IDMapping:       idMapping,
			RefCountMounter: snapshotter.NewMounter(home, driver, idMapping),
		})}
	})
	return r.img
}

// rootfsPath is Moby's mount target for a container (<root>/rootfs/<snapshotter>/<id>).
func (s *imageService) rootfsPath(id string) string {
	return filepath.Join(s.home, "rootfs", driver, id)
}

// configFields are the image config fields the trace compares ("" and
// empty lists as null, as a caller reading the OCI config sees them absent).
func configFields(c *containertypes.Config) map[string]any {
	out := map[string]any{"Env": nil, "Cmd": nil, "Entrypoint": nil, "WorkingDir": nil, "User": nil, "Labels": nil}
	if c == nil {
		return out
	}
	if len(c.Env) > 0 {
		out["Env"] = c.Env
	}
	if len(c.Cmd) > 0 {
		out["Cmd"] = []string(c.Cmd)
	}
	if len(c.Entrypoint) > 0 {
		out["Entrypoint"] = []string(c.Entrypoint)
	}
	if c.WorkingDir != "" {
		out["WorkingDir"] = c.WorkingDir
	}
	if c.User != "" {
		out["User"] = c.User
	}
	if len(c.Labels) > 0 {
		out["Labels"] = c.Labels
	}
	return out
}

// listedSize is the image's size as `docker images` shows it (Moby's Images).
func (s *imageService) listedSize(ctx context.Context, id string) (int64, error) {
	sums, err := s.svc.Images(ctx, imagetypes.ListOptions{})
	if err != nil {
		return 0, err
	}
	for _, sum := range sums {
		if sum.ID == id {
			return sum.Size, nil
		}
	}
	return 0, nil
}

// describe is `docker image inspect ref`: its name (ref itself when it names
// a tag, else the image's first tag), ID (the manifest digest with the
// containerd store), config, and the size `docker images` lists.
func (s *imageService) describe(ctx context.Context, ref string) (map[string]any, error) {
	img, err := s.svc.GetImage(ctx, ref, backend.GetImageOpts{Details: true})
	if err != nil {
		return nil, err
	}
	name := ""
	if named, err := reference.ParseNormalizedNamed(ref); err == nil && !strings.HasPrefix(ref, "sha256:") {
		if _, digested := named.(reference.Digested); !digested {
			name = reference.FamiliarString(reference.TagNameOnly(named))
		}
	}
	if name == "" {
		for _, r := range img.Details.References {
			if _, ok := r.(reference.Tagged); ok {
				name = reference.FamiliarString(r)
				break
			}
		}
	}
	size, err := s.listedSize(ctx, img.ID().String())
	if err != nil {
		return nil, err
	}
	return map[string]any{"name": name, "digest": img.ID().String(), "size": size, "config": configFields(img.Config)}, nil
}

// load is `docker load` (LoadImage), then `docker tag <id> name` for the
// one untagged image when a name is given; the loaded images described.
func (s *imageService) load(ctx context.Context, path, name string) (any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var progress bytes.Buffer
	if err := s.svc.LoadImage(ctx, f, &progress, true); err != nil {
		return nil, err
	}
	var refs []string
	dec := json.NewDecoder(&progress)
	for {
		var msg struct {
			Stream string `json:"stream"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return nil, err
		}
		line := strings.TrimSpace(msg.Stream)
		if ref, ok := strings.CutPrefix(line, "Loaded image ID: "); ok {
			if name != "" {
				named, err := reference.ParseNormalizedNamed(name)
				if err != nil {
					return nil, err
				}
				named = reference.TagNameOnly(named)
				if err := s.svc.TagImage(ctx, image.ID(ref), named); err != nil {
					return nil, err
				}
				ref = reference.FamiliarString(named)
			}
			refs = append(refs, ref)
		} else if ref, ok := strings.CutPrefix(line, "Loaded image: "); ok {
			refs = append(refs, ref)
		}
	}
	out := []map[string]any{}
	for _, ref := range refs {
		d, err := s.describe(ctx, ref)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

// list is `docker images`: one entry per tag ("" for an untagged image),
// sorted by name and digest.
func (s *imageService) list(ctx context.Context) (any, error) {
	sums, err := s.svc.Images(ctx, imagetypes.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, sum := range sums {
		img, err := s.svc.GetImage(ctx, sum.ID, backend.GetImageOpts{})
		if err != nil {
			return nil, err
		}
		names := sum.RepoTags
		if len(names) == 0 {
			names = []string{""}
		}
		for _, n := range names {
			if n == "<none>:<none>" {
				n = ""
			}
			out = append(out, map[string]any{"name": n, "digest": sum.ID, "size": sum.Size, "config": configFields(img.Config)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i]["name"] != out[j]["name"] {
			return out[i]["name"].(string) < out[j]["name"].(string)
		}
		return out[i]["digest"].(string) < out[j]["digest"].(string)
	})
	return out, nil
}

// prepare is what dockerd's container create and start do to the rootfs
// with the containerd store: resolve the image (GetImage), PrepareSnapshot
// with the init layer (daemon_unix.go setupInitLayer: initlayer.Setup),
// register the container (daemon.containers, which ImageDelete consults),
// then Mount; the mount point is the container's BaseFS.
func (s *imageService) prepare(ctx context.Context, id, ref string) (string, error) {
	img, err := s.svc.GetImage(ctx, ref, backend.GetImageOpts{})
	if err != nil {
		return "", err
	}
	idMapping := idtools.IdentityMapping{}
	setupInit := func(p string) error { return initlayer.Setup(p, idMapping.RootPair()) }
	if err := s.svc.PrepareSnapshot(ctx, id, ref, nil, setupInit); err != nil {
		return "", err
	}
	ctr := &container.Container{ID: id, Driver: driver, ImageID: img.ID(), State: container.NewState(),
		Config: &containertypes.Config{Image: ref}}
	s.containers.Add(id, ctr)
	if err := s.svc.Mount(ctx, ctr); err != nil {
		return "", err
	}
	return ctr.BaseFS, nil
}

// release is dockerd's `docker rm` of the container, for its rootfs: a
// running (or paused) container is refused with cleanupContainer's
// Conflict (daemon/delete.go; the harness names the container by its id);
// then Unmount (daemon.Cleanup at exit), the lease deleted synchronously
// (cleanupContainer with UsesSnapshotter) and the container unregistered.
func (s *imageService) release(ctx context.Context, lc containerState, id string) error {
	if state := lc(ctx, id); state == "paused" {
		return errdefs.Conflict(fmt.Errorf("cannot remove container %q: container is %s and must be unpaused first", id, state))
	} else if state == "running" {
		return errdefs.Conflict(fmt.Errorf("cannot remove container %q: container is %s: stop the container before removing or force remove", id, state))
	}
	ctr := s.containers.Get(id)
	if ctr == nil {
		ctr = &container.Container{ID: id, Driver: driver}
	}
	// dockerd's Cleanup only logs a failed unmount (e.g. none mounted).
	_ = s.svc.Unmount(ctx, ctr)
	if err := s.c8d.LeasesService().Delete(context.WithoutCancel(ctx), leases.Lease{ID: id}, leases.SynchronousDelete); err != nil && !cerrdefs.IsNotFound(err) {
		return err
	}
	s.containers.Delete(id)
	return nil
}

// containerState is dockerd's State.StateString for a container id, from
// its libcontainerd task ("running", "paused", or "" when not running).
type containerState func(ctx context.Context, id string) string

// inspectRootfs is the mount layout under the container's mount point
// (from /proc/self/mountinfo) and the given paths inside it.
func inspectRootfs(target string, paths []string) (map[string]any, error) {
	mounts, err := mountsUnder(target)
	if err != nil {
		return nil, err
	}
	files := map[string]any{}
	for _, p := range paths {
		files[p] = describeFile(filepath.Join(target, p))
	}
	return map[string]any{"mounts": mounts, "files": files}, nil
}

// mountsUnder lists the mountinfo entries at or below target: mount point
// (relative to target), root, per-mount options, optional fields without
// their peer group numbers, type, source and super options.
func mountsUnder(target string) ([]map[string]any, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := []map[string]any{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, fl := range fields {
			if fl == "-" {
				sep = i
				break
			}
		}
		if sep < 6 || len(fields) < sep+4 {
			continue
		}
		mp := unescape(fields[4])
		rel, err := filepath.Rel(target, mp)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			continue
		}
		optional := []string{}
		for _, o := range fields[6:sep] {
			tag, _, _ := strings.Cut(o, ":")
			optional = append(optional, tag)
		}
		out = append(out, map[string]any{
			"mountpoint": rel, "root": unescape(fields[3]), "options": fields[5], "optional": optional,
			"fstype": fields[sep+1], "source": unescape(fields[sep+2]), "super": fields[sep+3],
		})
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + (c - '0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// describeFile is a path as a caller sees it: type, owner and mode, and a
// regular file's content or a symlink's target.
func describeFile(p string) map[string]any {
	st, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]any{"type": "absent"}
	} else if err != nil {
		return map[string]any{"type": "error", "error": err.Error()}
	}
	out := map[string]any{"owner": owner(p)}
	switch {
	case st.Mode().IsRegular():
		out["type"] = "file"
		data, err := os.ReadFile(p)
		if err != nil {
			return map[string]any{"type": "error", "error": err.Error()}
		}
		if len(data) > 4096 {
			data = data[:4096]
		}
		out["content"] = hex.EncodeToString(data)
	case st.Mode()&os.ModeSymlink != 0:
		out["type"] = "symlink"
		target, _ := os.Readlink(p)
		out["target"] = target
	case st.IsDir():
		out["type"] = "dir"
	default:
		out["type"] = "other"
	}
	return out
}

// cleanupImages releases every rootfs the scenario prepared and removes
// every image in the namespace (`docker rmi -f`), so that the test can
// remove the scenario's namespace. Containers are gone by then.
func (r *runner) cleanupImages(conn *conn) {
	if r.img == nil {
		return
	}
	ctx := r.ctx
	s := r.img
	for _, c := range r.prepared {
		id := r.id(c)
		ctr := s.containers.Get(id)
		if ctr == nil {
			ctr = &container.Container{ID: id, Driver: driver}
		}
		_ = s.svc.Unmount(ctx, ctr)
		_ = conn.c8d.LeasesService().Delete(ctx, leases.Lease{ID: id}, leases.SynchronousDelete)
		s.containers.Delete(id)
	}
	imgs, err := conn.c8d.ImageService().List(ctx)
	if err != nil {
		return
	}
	for _, img := range imgs {
		_, _ = s.svc.ImageDelete(ctx, img.Name, true, true)
	}
	// Whatever Moby would not take by name (e.g. a dangling record) goes too.
	if imgs, err = conn.c8d.ImageService().List(ctx); err == nil {
		for _, img := range imgs {
			_ = conn.c8d.ImageService().Delete(ctx, img.Name, containerdimages.SynchronousDelete())
		}
	}
}
