//go:build !v28

package moby

import (
	"context"
	"io"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/backend"
	registrytypes "github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/container"
	ctrd "github.com/docker/docker/daemon/containerd"
	"github.com/docker/docker/daemon/initlayer"
	"github.com/docker/docker/daemon/snapshotter"
	"github.com/docker/docker/image"
	"github.com/docker/docker/pkg/idtools"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// NewImageService is ctrd.NewService as dockerd's daemon.go calls it.
func NewImageService(c ImageServiceConfig) *ctrd.ImageService {
	idMapping := idtools.IdentityMapping{}
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

// LoadImage is `docker load` (every platform in the archive).
func LoadImage(ctx context.Context, svc *ctrd.ImageService, in io.ReadCloser, out io.Writer, quiet bool) error {
	return svc.LoadImage(ctx, in, out, quiet)
}

// ExportImage is `docker save` (every platform).
func ExportImage(ctx context.Context, svc *ctrd.ImageService, names []string, out io.Writer) error {
	return svc.ExportImage(ctx, names, out)
}

// PushImage is `docker push` (every platform).
func PushImage(ctx context.Context, svc *ctrd.ImageService, ref reference.Named, auth *registrytypes.AuthConfig, out io.Writer) error {
	return svc.PushImage(ctx, ref, nil, auth, out)
}

// ImageDelete is `docker rmi` (with --force when force), pruning untagged parents.
func ImageDelete(ctx context.Context, svc *ctrd.ImageService, ref string, force bool) error {
	_, err := svc.ImageDelete(ctx, ref, force, true)
	return err
}

// CreateLayer is what dockerd's container create does to the rootfs with
// the containerd store: PrepareSnapshot of ref (unpacked if needed, a lease
// named after ctr.ID, the "<id>-init" layer set up by Moby's initlayer, the
// writable snapshot keyed by ctr.ID). img is GetImage's of ref.
func CreateLayer(ctx context.Context, svc *ctrd.ImageService, ctr *container.Container, ref string, _ *image.Image) error {
	root := idtools.IdentityMapping{}.RootPair()
	setupInit := func(path string) error { return initlayer.Setup(path, root) }
	return svc.PrepareSnapshot(ctx, ctr.ID, ref, nil, setupInit)
}

// Mount is dockerd's daemon.Mount: the writable snapshot mounted by Moby's
// ref-counting mounter; sets ctr.BaseFS.
func Mount(ctx context.Context, svc *ctrd.ImageService, ctr *container.Container) error {
	return svc.Mount(ctx, ctr)
}

// Unmount is dockerd's daemon.Unmount of ctr (found by its id when this
// process did not mount it).
func Unmount(ctx context.Context, svc *ctrd.ImageService, ctr *container.Container) error {
	return svc.Unmount(ctx, ctr)
}

// GetImageAndNames is Moby's GetImage of ref for platform with the image's
// names (its References, GetImage's details).
func GetImageAndNames(ctx context.Context, svc *ctrd.ImageService, ref string, platform *ocispec.Platform) (*image.Image, []reference.Named, error) {
	img, err := svc.GetImage(ctx, ref, backend.GetImageOpts{Details: true, Platform: platform})
	if err != nil {
		return nil, nil, err
	}
	return img, img.Details.References, nil
}
