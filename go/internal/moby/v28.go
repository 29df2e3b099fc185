//go:build v28

package moby

import (
	"context"
	"io"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/backend"
	containertypes "github.com/docker/docker/api/types/container"
	imagetypes "github.com/docker/docker/api/types/image"
	registrytypes "github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/container"
	ctrd "github.com/docker/docker/daemon/containerd"
	"github.com/docker/docker/daemon/initlayer"
	"github.com/docker/docker/daemon/snapshotter"
	"github.com/docker/docker/image"
	"github.com/moby/sys/user"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// NewImageService is ctrd.NewService as dockerd's daemon.go calls it.
func NewImageService(c ImageServiceConfig) *ctrd.ImageService {
	idMapping := user.IdentityMapping{}
	cfg := ctrd.ImageServiceConfig{
		Client:          c.Client,
		Containers:      c.Containers,
		Snapshotter:     c.Snapshotter,
		RegistryHosts:   c.RegistryHosts,
		EventsService:   c.Events,
		IDMapping:       idMapping,
		RefCountMounter: snapshotter.NewMounter(c.Home, c.Snapshotter, idMapping),
	}
	if c.Registry != nil {
		cfg.Registry = c.Registry
	}
	return ctrd.NewService(cfg)
}

// LoadImage is `docker load` (every platform in the archive: no --platform).
func LoadImage(ctx context.Context, svc *ctrd.ImageService, in io.ReadCloser, out io.Writer, quiet bool) error {
	return svc.LoadImage(ctx, in, nil, out, quiet)
}

// ExportImage is `docker save` (no --platform).
func ExportImage(ctx context.Context, svc *ctrd.ImageService, names []string, out io.Writer) error {
	return svc.ExportImage(ctx, names, nil, out)
}

// PushImage is `docker push` (no --platform).
func PushImage(ctx context.Context, svc *ctrd.ImageService, ref reference.Named, auth *registrytypes.AuthConfig, out io.Writer) error {
	return svc.PushImage(ctx, ref, nil, nil, auth, out)
}

// ImageDelete is `docker rmi` (with --force when force), pruning untagged parents.
func ImageDelete(ctx context.Context, svc *ctrd.ImageService, ref string, force bool) error {
	_, err := svc.ImageDelete(ctx, ref, imagetypes.RemoveOptions{Force: force, PruneChildren: true})
	return err
}

// CreateLayer is what dockerd's container create does to the rootfs with
// the containerd store: CreateLayer on img's manifest (img: GetImage of ref) (unpacked
// if needed, a lease named after ctr.ID, the "<id>-init" layer set up by
// Moby's initlayer, the writable snapshot keyed by ctr.ID); sets ctr.RWLayer.
func CreateLayer(ctx context.Context, svc *ctrd.ImageService, ctr *container.Container, ref string, img *image.Image) error {
	if img.Details != nil {
		ctr.ImageManifest = img.Details.ManifestDescriptor
	}
	if ctr.HostConfig == nil {
		ctr.HostConfig = &containertypes.HostConfig{}
	}
	setupInit := func(path string) error { return initlayer.Setup(path, 0, 0) }
	rw, err := svc.CreateLayer(ctr, setupInit)
	if err != nil {
		return err
	}
	ctr.RWLayer = rw
	return nil
}

// Mount is dockerd's daemon.Mount: ctr.RWLayer mounted by Moby's
// ref-counting mounter; sets ctr.BaseFS.
func Mount(ctx context.Context, svc *ctrd.ImageService, ctr *container.Container) error {
	if ctr.RWLayer == nil {
		rw, err := svc.GetLayerByID(ctr.ID)
		if err != nil {
			return err
		}
		ctr.RWLayer = rw
	}
	dir, err := ctr.RWLayer.Mount(ctr.GetMountLabel())
	if err != nil {
		return err
	}
	ctr.BaseFS = dir
	return nil
}

// Unmount is dockerd's daemon.Unmount of ctr (its layer found by id, as
// dockerd's restore does, when this process did not create it).
func Unmount(ctx context.Context, svc *ctrd.ImageService, ctr *container.Container) error {
	if ctr.RWLayer == nil {
		rw, err := svc.GetLayerByID(ctr.ID)
		if err != nil {
			return err
		}
		ctr.RWLayer = rw
	}
	return ctr.RWLayer.Unmount()
}

// GetImageAndNames is Moby's GetImage of ref for platform with the image's
// names: Moby v28's GetImage has no details, its names are ImageInspect's
// RepoTags (what `docker image inspect` shows).
func GetImageAndNames(ctx context.Context, svc *ctrd.ImageService, ref string, platform *ocispec.Platform) (*image.Image, []reference.Named, error) {
	img, err := svc.GetImage(ctx, ref, backend.GetImageOpts{Platform: platform})
	if err != nil {
		return nil, nil, err
	}
	resp, err := svc.ImageInspect(ctx, ref, backend.ImageInspectOpts{Platform: platform})
	if err != nil {
		return nil, nil, err
	}
	var names []reference.Named
	for _, tag := range resp.RepoTags {
		if named, err := reference.ParseNormalizedNamed(tag); err == nil {
			names = append(names, named)
		}
	}
	return img, names, nil
}
