package core

// Images through Moby's own containerd image service
// (github.com/docker/docker/daemon/containerd, the store dockerd uses with
// the containerd image store): LoadImage, PrepareSnapshot (with Moby's init
// layer), Mount/Unmount through Moby's ref-counting mounter, GetImage, Images,
// TagImage and ImageDelete. The service is built as dockerd builds it
// (daemon.go: ctrd.NewService), with an in-memory container store holding the
// prepared rootfs, an events service nobody listens to, and no registry
// (pull and push are not offered).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/backend"
	imagetypes "github.com/docker/docker/api/types/image"
	"github.com/docker/docker/container"
	ctrd "github.com/docker/docker/daemon/containerd"
	daemonevents "github.com/docker/docker/daemon/events"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/image"
	"github.com/moby/locker"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	containerd "pylibctrd/internal/c8d/client"
	"pylibctrd/internal/c8d/content"
	"pylibctrd/internal/c8d/identifiers"
	containerdimages "pylibctrd/internal/c8d/images"
	"pylibctrd/internal/c8d/leases"
	"pylibctrd/internal/c8d/platforms"
	"pylibctrd/internal/moby"
)

// Snapshotter is the snapshotter images are unpacked into: dockerd's default
// with the containerd store on Linux.
const Snapshotter = containerd.DefaultSnapshotter

// Image is one name of an image in containerd's image store.
type Image struct {
	Name   string          // familiar reference ("busybox:latest"); "" for an untagged image
	Digest digest.Digest   // the image's target: its manifest (or index) digest
	Size   int64           // Moby's Images size, as `docker images` shows it
	Config json.RawMessage // the OCI image config's "config" object (Env, Cmd, ...)
}

// imageState is a client's image service, made on first use.
type imageState struct {
	once     sync.Once
	svc      *ctrd.ImageService
	ctrs     container.Store // the prepared rootfs, for ImageDelete's conflict check
	ids      *locker.Locker  // one prepare/release per container id at a time
	importMu sync.Mutex      // imports one at a time, so a failed one can be undone
}

// RootfsHome is where prepared rootfs are mounted: Moby's layout
// <home>/rootfs/<snapshotter>/<id> (dockerd: /var/lib/docker) with
// <home> = <state_dir>-images, a sibling of the state dir, so a mount point
// can never be a bundle dir (<state_dir>/<id>).
func (c *Client) RootfsHome() string { return c.stateDir + "-images" }

// RootfsPath is where PrepareRootfs mounts container id's rootfs.
func (c *Client) RootfsPath(id string) string {
	return filepath.Join(c.RootfsHome(), "rootfs", Snapshotter, id)
}

func (c *Client) imageService() *imageState {
	s := &c.images
	s.once.Do(func() {
		s.ctrs = container.NewMemoryStore()
		s.ids = locker.New()
		s.svc = moby.NewImageService(moby.ImageServiceConfig{
			Client:        c.c8d,
			Containers:    s.ctrs,
			Snapshotter:   Snapshotter,
			Home:          c.RootfsHome(),
			RegistryHosts: c.registryHosts,
			Registry:      c.registryService(),
			Events:        daemonevents.New(),
		})
	})
	return s
}

// ImportImage loads a `docker save` or OCI image-layout archive (plain or
// compressed) with Moby's LoadImage, which imports it into containerd's
// content store and unpacks it into the snapshotter. name, if not empty,
// tags the archive's one untagged image (Moby's TagImage). If anything
// fails, the images it created are removed again and the garbage collected.
func (c *Client) ImportImage(ctx context.Context, archive io.Reader, name string) ([]Image, error) {
	var named reference.Named
	if name != "" {
		n, err := reference.ParseNormalizedNamed(name)
		if err != nil {
			return nil, errdefs.InvalidParameter(fmt.Errorf("invalid image name %q: %w", name, err))
		}
		named = reference.TagNameOnly(n)
	}
	s := c.imageService()
	return get(c, ctx, func(ctx context.Context) (imgs []Image, err error) {
		s.importMu.Lock()
		defer s.importMu.Unlock()
		before, err := c.imageTargets(ctx)
		if err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				c.undoImport(ctx, before)
			}
		}()
		var progress bytes.Buffer
		if err := moby.LoadImage(ctx, s.svc, io.NopCloser(archive), &progress, true); err != nil {
			return nil, err
		}
		refs, err := loadedRefs(&progress)
		if err != nil {
			return nil, err
		}
		if err := c.checkComplete(ctx, before); err != nil {
			return nil, err
		}
		if named != nil {
			if refs, err = c.tagUntagged(ctx, refs, named); err != nil {
				return nil, err
			}
		}
		for _, ref := range refs {
			img, err := c.imageInfo(ctx, ref)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img)
		}
		return imgs, nil
	})
}

// loadedRefs reads LoadImage's progress stream: "Loaded image: <name>" for a
// tagged image, "Loaded image ID: <digest>" for an untagged one.
func loadedRefs(progress io.Reader) ([]string, error) {
	var refs []string
	dec := json.NewDecoder(progress)
	for {
		var msg struct {
			Stream string `json:"stream"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return refs, nil
		} else if err != nil {
			return nil, fmt.Errorf("reading LoadImage's output: %w", err)
		}
		line := strings.TrimSpace(msg.Stream)
		for _, prefix := range []string{"Loaded image ID: ", "Loaded image: "} {
			if ref, ok := strings.CutPrefix(line, prefix); ok {
				refs = append(refs, ref)
				break
			}
		}
	}
}

func (c *Client) tagUntagged(ctx context.Context, refs []string, named reference.Named) ([]string, error) {
	var untagged []int
	for i, ref := range refs {
		if strings.HasPrefix(ref, "sha256:") {
			untagged = append(untagged, i)
		}
	}
	switch len(untagged) {
	case 0:
		return refs, nil // every image is tagged: name is not needed
	case 1:
	default:
		return nil, errdefs.InvalidParameter(fmt.Errorf("name %q given, but the archive has %d untagged images", named, len(untagged)))
	}
	i := untagged[0]
	if err := c.imageService().svc.TagImage(ctx, image.ID(refs[i]), named); err != nil {
		return nil, err
	}
	refs[i] = reference.FamiliarString(named)
	return refs, nil
}

// checkComplete refuses an import that left an image without all of its
// content for this platform. Moby's LoadImage accepts one (it skips missing
// blobs and the manifests that need them); the container would fail only at
// create time. A blob whose content does not match its digest is stored
// under its real digest, so what the manifest names is missing.
func (c *Client) checkComplete(ctx context.Context, before map[string]containerdimages.Image) error {
	now, err := c.imageTargets(ctx)
	if err != nil {
		return err
	}
	cs := c.c8d.ContentStore()
	for name, img := range now {
		if old, ok := before[name]; ok && old.Target.Digest == img.Target.Digest {
			continue
		}
		_, _, _, missing, err := containerdimages.Check(ctx, cs, img.Target, platforms.Default())
		if err != nil {
			return errdefs.System(fmt.Errorf("checking image %s: %w", name, err))
		}
		if len(missing) > 0 {
			return errdefs.DataLoss(fmt.Errorf("image %s is incomplete: the archive lacks %s (or has a blob whose content does not match that digest)", name, missing[0].Digest))
		}
	}
	return nil
}

// imageTargets is every image name in the namespace and its target.
func (c *Client) imageTargets(ctx context.Context) (map[string]containerdimages.Image, error) {
	all, err := c.c8d.ImageService().List(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]containerdimages.Image, len(all))
	for _, img := range all {
		m[img.Name] = img
	}
	return m, nil
}

// undoImport restores the image records as they were before a failed import
// and has containerd collect what the import left unreferenced, so that no
// half-imported image, content or snapshot stays behind.
func (c *Client) undoImport(ctx context.Context, before map[string]containerdimages.Image) {
	ctx = context.WithoutCancel(ctx)
	is := c.c8d.ImageService()
	if now, err := c.imageTargets(ctx); err == nil {
		for name, img := range now {
			old, existed := before[name]
			switch {
			case !existed:
				_ = is.Delete(ctx, name)
			case old.Target.Digest != img.Target.Digest:
				_, _ = is.Update(ctx, old, "target")
			}
		}
	}
	collectGarbage(ctx, c)
}

// collectGarbage runs containerd's garbage collector now: deleting a lease
// with SynchronousDelete is the client API's way to ask for it.
func collectGarbage(ctx context.Context, c *Client) {
	ls := c.c8d.LeasesService()
	l, err := ls.Create(ctx, leases.WithRandomID())
	if err == nil {
		_ = ls.Delete(ctx, l, leases.SynchronousDelete)
	}
}

// imageInfo describes the image ref names (a reference or a digest).
func (c *Client) imageInfo(ctx context.Context, ref string) (Image, error) {
	return c.imageInfoFor(ctx, ref, nil)
}

// imageInfoFor describes the image ref names for platform (nil: this
// machine's), e.g. an image pulled for another platform.
func (c *Client) imageInfoFor(ctx context.Context, ref string, platform *ocispec.Platform) (Image, error) {
	s := c.imageService()
	img, names, err := moby.GetImageAndNames(ctx, s.svc, ref, platform)
	if err != nil {
		return Image{}, err
	}
	out := Image{Digest: digest.Digest(img.ID())}
	if out.Size, err = c.listedSize(ctx, out.Digest); err != nil {
		return Image{}, err
	}
	if parsed, err := reference.ParseNormalizedNamed(ref); err == nil && !isDigestRef(ref) {
		if _, digested := parsed.(reference.Digested); !digested {
			out.Name = reference.FamiliarString(reference.TagNameOnly(parsed))
		}
	}
	if out.Name == "" {
		for _, r := range names {
			if _, ok := r.(reference.Tagged); ok {
				out.Name = reference.FamiliarString(r)
				break
			}
		}
	}
	matcher := platforms.Default()
	if platform != nil {
		matcher = platforms.Only(*platform)
	}
	out.Config, err = c.imageConfigFor(ctx, out.Digest, matcher)
	return out, err
}

// listedSize is the size Moby's Images reports for the image (what `docker
// images` shows), so that GetImage and Images agree.
func (c *Client) listedSize(ctx context.Context, dgst digest.Digest) (int64, error) {
	summaries, err := c.imageService().svc.Images(ctx, imagetypes.ListOptions{})
	if err != nil {
		return 0, err
	}
	for _, sum := range summaries {
		if sum.ID == dgst.String() {
			return sum.Size, nil
		}
	}
	return 0, nil
}

func isDigestRef(ref string) bool {
	_, err := digest.Parse(ref)
	return err == nil
}

// imageConfig reads the "config" object of the OCI image config that the
// image with target dgst has for this platform.
func (c *Client) imageConfig(ctx context.Context, dgst digest.Digest) (json.RawMessage, error) {
	return c.imageConfigFor(ctx, dgst, platforms.Default())
}

// imageConfigFor is imageConfig for the platforms matcher matches.
func (c *Client) imageConfigFor(ctx context.Context, dgst digest.Digest, matcher platforms.MatchComparer) (json.RawMessage, error) {
	found, err := c.c8d.ImageService().List(ctx, "target.digest=="+dgst.String())
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, errdefs.NotFound(fmt.Errorf("No such image: %s", dgst))
	}
	cs := c.c8d.ContentStore()
	desc, err := containerdimages.Config(ctx, cs, found[0].Target, matcher)
	if cerrdefs.IsNotFound(err) {
		// An image pulled for another platform only: its config instead.
		desc, err = availableConfig(ctx, cs, found[0].Target)
	}
	if err != nil {
		return nil, err
	}
	blob, err := content.ReadBlob(ctx, cs, desc)
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(blob, &cfg); err != nil {
		return nil, errdefs.System(fmt.Errorf("image config %s: %w", desc.Digest, err))
	}
	if len(cfg.Config) == 0 || string(cfg.Config) == "null" {
		cfg.Config = json.RawMessage("{}")
	}
	return cfg.Config, nil
}

// availableConfig is the config of the first platform of target whose
// config is in the content store.
func availableConfig(ctx context.Context, cs content.Store, target ocispec.Descriptor) (ocispec.Descriptor, error) {
	plats, err := containerdimages.Platforms(ctx, cs, target)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, p := range plats {
		desc, err := containerdimages.Config(ctx, cs, target, platforms.Only(p))
		if err == nil {
			if _, err := cs.Info(ctx, desc.Digest); err == nil {
				return desc, nil
			}
		}
	}
	return ocispec.Descriptor{}, errdefs.NotFound(fmt.Errorf("image %s has no config for any platform", target.Digest))
}

// Images lists the images in the namespace (Moby's Images), one entry per
// name; an untagged image has one entry with an empty name.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	s := c.imageService()
	return get(c, ctx, func(ctx context.Context) ([]Image, error) {
		summaries, err := s.svc.Images(ctx, imagetypes.ListOptions{})
		if err != nil {
			return nil, err
		}
		var out []Image
		for _, sum := range summaries {
			cfg, err := c.imageConfig(ctx, digest.Digest(sum.ID))
			if err != nil {
				return nil, err
			}
			names := sum.RepoTags
			if len(names) == 0 {
				names = []string{""}
			}
			for _, name := range names {
				if name == "<none>:<none>" {
					name = ""
				}
				out = append(out, Image{Name: name, Digest: digest.Digest(sum.ID), Size: sum.Size, Config: cfg})
			}
		}
		return out, nil
	})
}

// GetImage describes the image ref names (a name, a digest or an ID prefix),
// resolved as Moby's GetImage does; errdefs.NotFound when there is none.
func (c *Client) GetImage(ctx context.Context, ref string) (Image, error) {
	return get(c, ctx, func(ctx context.Context) (Image, error) { return c.imageInfo(ctx, ref) })
}

// RemoveImage is Moby's ImageDelete (as `docker rmi` without --force): a
// name untags (and deletes the image with its last name); an image that a
// prepared rootfs of this client uses is a Conflict.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	s := c.imageService()
	return c.do(ctx, func(ctx context.Context) error {
		for _, ctr := range s.ctrs.List() {
			if err := c.forgetIfReleased(ctx, ctr.ID); err != nil {
				return err
			}
		}
		return moby.ImageDelete(ctx, s.svc, ref, false)
	})
}

// PrepareRootfs does what dockerd's container create and start do to a
// container's root filesystem with the containerd store: PrepareSnapshot
// (unpack if needed, a lease named after the container, the "<id>-init"
// layer set up by Moby's initlayer, the writable snapshot keyed by the id)
// and Mount. It returns the mount point, RootfsPath(id).
func (c *Client) PrepareRootfs(ctx context.Context, id, ref string) (string, error) {
	if err := identifiers.Validate(id); err != nil {
		return "", errdefs.InvalidParameter(err)
	}
	s := c.imageService()
	s.ids.Lock(id)
	defer s.ids.Unlock(id)
	return get(c, ctx, func(ctx context.Context) (string, error) {
		img, err := s.svc.GetImage(ctx, ref, backend.GetImageOpts{})
		if err != nil {
			return "", err
		}
		existed, err := c.leaseExists(ctx, id)
		if err != nil {
			return "", err
		}
		if existed {
			return "", errdefs.Conflict(fmt.Errorf("a rootfs for container %s is already prepared: release it first", id))
		}
		s.forgetStale(ctx, id)
		ctr := &container.Container{ID: id, Driver: Snapshotter, ImageID: img.ID(), State: container.NewState()}
		if err := moby.CreateLayer(ctx, s.svc, ctr, ref, img); err != nil {
			c.dropLease(ctx, id)
			return "", err
		}
		if err := moby.Mount(ctx, s.svc, ctr); err != nil {
			c.dropLease(ctx, id)
			return "", errdefs.System(err)
		}
		s.ctrs.Add(id, ctr)
		return ctr.BaseFS, nil
	})
}

// ReleaseRootfs unmounts container id's rootfs (Moby's Unmount) and deletes
// its lease synchronously, which removes its snapshots (what dockerd does
// when it removes a container). A task of that container that has not
// stopped is a Conflict, as removing a running container is in dockerd.
func (c *Client) ReleaseRootfs(ctx context.Context, id string) error {
	if err := identifiers.Validate(id); err != nil {
		return errdefs.InvalidParameter(err)
	}
	s := c.imageService()
	s.ids.Lock(id)
	defer s.ids.Unlock(id)
	return c.do(ctx, func(ctx context.Context) error {
		if err := c.checkNoLiveTask(ctx, id); err != nil {
			return err
		}
		exists, err := c.leaseExists(ctx, id)
		if err != nil {
			return err
		}
		if !exists {
			s.forgetStale(ctx, id) // released elsewhere: only a leftover mount is ours to undo
		}
		ctr := &container.Container{ID: id, Driver: Snapshotter}
		if stored := s.ctrs.Get(id); stored != nil {
			ctr = stored
		}
		unmountErr := moby.Unmount(ctx, s.svc, ctr)
		if !exists {
			if unmountErr != nil {
				return errdefs.NotFound(fmt.Errorf("no rootfs prepared for container %s", id))
			}
			return nil
		}
		s.ctrs.Delete(id)
		if err := c.c8d.LeasesService().Delete(ctx, leases.Lease{ID: id}, leases.SynchronousDelete); err != nil && !cerrdefs.IsNotFound(err) {
			return err
		}
		return nil
	})
}

// checkNoLiveTask refuses while container id has a task that has not stopped.
func (c *Client) checkNoLiveTask(ctx context.Context, id string) error {
	ctr, err := c.c8d.LoadContainer(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	task, err := ctr.Task(ctx, nil)
	if cerrdefs.IsNotFound(err) {
		return nil
	} else if err != nil {
		return err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return err
	}
	if st.Status != "stopped" {
		return errdefs.Conflict(fmt.Errorf("cannot release the rootfs of container %s: its task is %s: stop and delete the task first", id, st.Status))
	}
	return nil
}

func (c *Client) leaseExists(ctx context.Context, id string) (bool, error) {
	found, err := c.c8d.LeasesService().List(ctx, "id=="+id)
	if err != nil {
		return false, err
	}
	return len(found) > 0, nil
}

// dropLease undoes a failed prepare: the lease and, through the collector,
// the snapshots it held.
func (c *Client) dropLease(ctx context.Context, id string) {
	// An error leaves the lease for a later release_rootfs to remove.
	_ = c.c8d.LeasesService().Delete(context.WithoutCancel(ctx), leases.Lease{ID: id}, leases.SynchronousDelete)
}

// forgetStale drops what this client remembers of container id's rootfs once
// its lease is gone, i.e. another client or process released it (the mount
// is kernel state, so any process may undo it). Moby's mounter counts mounts
// per process: left as it is, its count would make this client's next Mount
// of the same id return without mounting anything, and the stale record
// would make ImageDelete refuse. Callers hold s.ids for id.
func (s *imageState) forgetStale(ctx context.Context, id string) {
	stale := s.ctrs.Get(id)
	if stale == nil {
		return
	}
	// The count drops to zero; whatever is still mounted there is unmounted
	// (nothing, when the other client released it from the same mount dir).
	_ = moby.Unmount(ctx, s.svc, stale)
	s.ctrs.Delete(id)
}

// forgetIfReleased is forgetStale for a rootfs this client prepared, when
// its lease no longer exists.
func (c *Client) forgetIfReleased(ctx context.Context, id string) error {
	s := c.imageService()
	s.ids.Lock(id)
	defer s.ids.Unlock(id)
	exists, err := c.leaseExists(ctx, id)
	if err != nil || exists {
		return err
	}
	s.forgetStale(ctx, id)
	return nil
}
