package core

// Named volumes with Moby's volume/local driver under the client's home
// (<home>/volumes/<name>/_data, dockerd's /var/lib/docker/volumes), looked
// up through Moby's volume driver store (its "volume driver not found"). A
// volume is in use while a container in containerd's records mounts it: the
// records are the one state every process shares, so the check holds across
// processes, which dockerd's in-memory references could not.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/container"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/idtools"
	"github.com/docker/docker/pkg/stringid"
	"github.com/docker/docker/volume"
	"github.com/docker/docker/volume/drivers"
	"github.com/docker/docker/volume/local"
	"github.com/docker/docker/volume/service"
	"github.com/moby/sys/symlink"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Volume is `docker volume inspect`'s record of a local volume.
type Volume struct {
	Name       string
	Driver     string
	Mountpoint string
	CreatedAt  time.Time
	Labels     map[string]string
}

const volumeLabelsFile = "labels.json" // next to the driver's opts.json

var volumesMu sync.Mutex // one volume operation at a time in this process

// volumeDrivers is Moby's driver store with the local driver, read afresh
// (local.New lists the volume dirs) so that volumes made by other processes
// are seen.
func (c *Client) volumeDrivers() (*drivers.Store, *local.Root, error) {
	root, err := local.New(c.RootfsHome(), idtools.CurrentIdentity())
	if err != nil {
		return nil, nil, errdefs.System(err)
	}
	store := drivers.NewStore(nil)
	store.Register(root, root.Name())
	return store, root, nil
}

func volumeRecord(v volume.Volume) Volume {
	rec := Volume{Name: v.Name(), Driver: v.DriverName(), Mountpoint: v.Path(), Labels: map[string]string{}}
	if d, ok := v.(interface{ CreatedAt() (time.Time, error) }); ok {
		rec.CreatedAt, _ = d.CreatedAt()
	}
	if data, err := os.ReadFile(filepath.Join(filepath.Dir(v.Path()), volumeLabelsFile)); err == nil {
		_ = json.Unmarshal(data, &rec.Labels)
	}
	return rec
}

// CreateVolume is `docker volume create [--label k=v] [name]`: an existing
// volume of that name is returned as it is; no name makes an anonymous one.
func (c *Client) CreateVolume(ctx context.Context, name string, labels map[string]string) (Volume, error) {
	volumesMu.Lock()
	defer volumesMu.Unlock()
	if c.closed.Load() {
		return Volume{}, ErrClosed
	}
	if name == "" {
		name = stringid.GenerateRandomID()
	}
	return c.createVolume("local", name, labels)
}

func (c *Client) createVolume(driver, name string, labels map[string]string) (Volume, error) {
	store, _, err := c.volumeDrivers()
	if err != nil {
		return Volume{}, err
	}
	d, err := store.CreateDriver(driver)
	if err != nil {
		return Volume{}, &service.OpErr{Op: "create", Name: name, Err: err}
	}
	v, err := d.Create(name, nil)
	if err != nil {
		return Volume{}, &service.OpErr{Op: "create", Name: name, Err: err}
	}
	labelsPath := filepath.Join(filepath.Dir(v.Path()), volumeLabelsFile)
	if _, err := os.Stat(labelsPath); os.IsNotExist(err) {
		if labels == nil {
			labels = map[string]string{}
		}
		data, _ := json.Marshal(labels)
		if err := os.WriteFile(labelsPath, data, 0o600); err != nil {
			return Volume{}, errdefs.System(err)
		}
	}
	return volumeRecord(v), nil
}

// Volumes lists the volumes, by name.
func (c *Client) Volumes(ctx context.Context) ([]Volume, error) {
	volumesMu.Lock()
	defer volumesMu.Unlock()
	if c.closed.Load() {
		return nil, ErrClosed
	}
	_, root, err := c.volumeDrivers()
	if err != nil {
		return nil, err
	}
	vols, _ := root.List()
	out := make([]Volume, 0, len(vols))
	for _, v := range vols {
		out = append(out, volumeRecord(v))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// RemoveVolume is `docker volume rm`: NotFound "get <name>: no such volume",
// Conflict "remove <name>: volume is in use - [<container ids>]".
func (c *Client) RemoveVolume(ctx context.Context, name string) error {
	return c.do(ctx, func(ctx context.Context) error {
		volumesMu.Lock()
		defer volumesMu.Unlock()
		_, root, err := c.volumeDrivers()
		if err != nil {
			return err
		}
		v, err := root.Get(name)
		if err != nil {
			return errdefs.NotFound(&service.OpErr{Op: "get", Name: name, Err: errors.New("no such volume")})
		}
		users, err := c.volumeUsers(ctx, v.Path())
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return errdefs.Conflict(&service.OpErr{Op: "remove", Name: name, Err: errors.New("volume is in use"), Refs: users})
		}
		if err := root.Remove(v); err != nil {
			return &service.OpErr{Op: "remove", Name: name, Err: err}
		}
		return nil
	})
}

// volumeUsers are the containers whose spec mounts path (or a subpath of it).
func (c *Client) volumeUsers(ctx context.Context, path string) ([]string, error) {
	records, err := c.c8d.ContainerService().List(ctx)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, r := range records {
		if r.Spec == nil {
			continue
		}
		var spec specs.Spec
		if json.Unmarshal(r.Spec.GetValue(), &spec) != nil {
			continue
		}
		for _, m := range spec.Mounts {
			if m.Type == "bind" && (m.Source == path || strings.HasPrefix(m.Source, path+"/")) {
				users = append(users, r.ID)
				break
			}
		}
	}
	sort.Strings(users)
	return users, nil
}

// bindVolumes turns each VolumeMountType mount of spec into a bind of its
// volume, creating the volume if needed and, as dockerd's populateVolume
// does, copying the image's content at the destination into a volume that
// is empty (unless nocopy).
func (c *Client) bindVolumes(ctx context.Context, spec *specs.Spec) error {
	has := false
	for _, m := range spec.Mounts {
		has = has || m.Type == VolumeMountType
	}
	if !has {
		return nil
	}
	volumesMu.Lock()
	defer volumesMu.Unlock()
	for i, m := range spec.Mounts {
		if m.Type != VolumeMountType {
			continue
		}
		vm, err := readVolumeMount(m)
		if err != nil {
			return err
		}
		v, err := c.createVolume(vm.driver, vm.name, nil)
		if err != nil {
			return err
		}
		source := v.Mountpoint
		if !vm.noCopy && spec.Root != nil && filepath.IsAbs(spec.Root.Path) {
			rootfs := &container.Container{BaseFS: spec.Root.Path}
			dest, err := rootfs.GetResourcePath(m.Destination)
			if err != nil {
				return err
			}
			if _, err := os.Stat(dest); err == nil {
				if err := rootfs.CopyImagePathContent(source, dest); err != nil {
					return errdefs.System(fmt.Errorf("failed to populate volume: %w", err))
				}
			} else if !os.IsNotExist(err) {
				return errdefs.System(err)
			}
		}
		if vm.subpath != "" {
			if !filepath.IsLocal(vm.subpath) {
				return errdefs.InvalidParameter(errors.New("subpath must be a relative path within the volume"))
			}
			if source, err = symlink.FollowSymlinkInScope(filepath.Join(source, vm.subpath), source); err != nil {
				return errdefs.InvalidParameter(err)
			}
		}
		spec.Mounts[i] = bindMount(source, m.Destination, !vm.readOnly, "", nil)
	}
	return nil
}
