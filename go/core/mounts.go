package core

// Mounts as `docker run -v/--mount/--tmpfs/--read-only` make them: Moby's
// volume/mounts parser reads and validates each request (its messages), and
// the result is laid into the OCI spec as dockerd's withMounts does. Named
// volumes cannot be resolved without a client (they live under its home), so
// they stay in the spec as mounts of type "volume" until NewContainer
// creates them with Moby's local driver (volumes.go) and binds them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	mounttypes "github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/idtools"
	volumemounts "github.com/docker/docker/volume/mounts"
	"github.com/moby/sys/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// VolumeMountType marks a named volume in a spec before NewContainer binds it.
const VolumeMountType = "volume"

// Options of a VolumeMountType mount (besides "ro").
const (
	volumeDriverOpt  = "volume-driver="
	volumeNoCopyOpt  = "volume-nocopy"
	volumeSubpathOpt = "volume-subpath="
)

// MountRequest is one user mount: a `-v` string (Raw), a `--mount` (Spec,
// docker's API mount object) or a `--tmpfs` entry (Tmpfs: "dest[:data]").
type MountRequest struct {
	Raw   string
	Spec  *mounttypes.Mount
	Tmpfs string
}

// UnmarshalJSON takes a string (`-v`), {"Tmpfs": "dest[:data]"} or a mount object.
func (r *MountRequest) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		return json.Unmarshal(data, &r.Raw)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return err
	}
	if t, ok := probe["Tmpfs"]; ok && len(probe) == 1 {
		return json.Unmarshal(t, &r.Tmpfs)
	}
	var m mounttypes.Mount
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("invalid mount %s: %w", data, err)
	}
	r.Spec = &m
	return nil
}

// userMount is Moby's container.Mount, plus the volume fields it resolves later.
type userMount struct {
	specs.Mount
	point *volumemounts.MountPoint
}

// ParseMounts parses every request with Moby's Linux parser, as dockerd's
// registerMountPoints does (binds from -v are checked only for syntax, a
// --mount bind's source must exist), and refuses two mounts on one
// destination ("Duplicate mount point").
func ParseMounts(reqs []MountRequest) ([]userMount, error) {
	parser := volumemounts.NewLinuxParser()
	var out []userMount
	seen := map[string]bool{}
	for _, r := range reqs {
		var mp *volumemounts.MountPoint
		var err error
		switch {
		case r.Spec != nil:
			mp, err = parser.ParseMountSpec(*r.Spec)
		case r.Tmpfs != "":
			dest, data, _ := strings.Cut(r.Tmpfs, ":")
			if err := parser.ValidateTmpfsMountDestination(dest); err != nil {
				return nil, errdefs.InvalidParameter(err)
			}
			mp = &volumemounts.MountPoint{Type: mounttypes.TypeTmpfs, Destination: dest, RW: true}
			mp.Spec = mounttypes.Mount{Type: mounttypes.TypeTmpfs, Target: dest}
			mp.Mode = data // raw tmpfs data, as HostConfig.Tmpfs holds it
		default:
			mp, err = parser.ParseMountRaw(r.Raw, "")
		}
		if err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
		if seen[mp.Destination] {
			return nil, errdefs.InvalidParameter(fmt.Errorf("Duplicate mount point: %s", mp.Destination))
		}
		seen[mp.Destination] = true
		if mp.Type == mounttypes.TypeBind {
			// MountPoint.Setup makes a missing -v source directory, as dockerd
			// does when the container starts (a --mount source must exist).
			if _, _, err := mp.Setup(context.Background(), "", idtools.CurrentIdentity(), nil); err != nil {
				return nil, errdefs.InvalidParameter(err)
			}
		}
		m, err := toOCI(parser, mp, r.Tmpfs != "")
		if err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
		out = append(out, userMount{Mount: m, point: mp})
	}
	return out, nil
}

// toOCI is withMounts' translation of one mount point.
func toOCI(parser volumemounts.Parser, mp *volumemounts.MountPoint, rawTmpfs bool) (specs.Mount, error) {
	switch mp.Type {
	case mounttypes.TypeTmpfs:
		data := mp.Mode
		if !rawTmpfs {
			var err error
			if data, err = parser.ConvertTmpfsOptions(mp.Spec.TmpfsOptions, mp.Spec.ReadOnly); err != nil {
				return specs.Mount{}, err
			}
		}
		options := []string{"noexec", "nosuid", "nodev", string(parser.DefaultPropagationMode())}
		if data != "" {
			options = append(options, strings.Split(data, ",")...)
		}
		merged, err := mount.MergeTmpfsOptions(options)
		if err != nil {
			return specs.Mount{}, err
		}
		return specs.Mount{Destination: mp.Destination, Source: "tmpfs", Type: "tmpfs", Options: merged}, nil
	case mounttypes.TypeVolume:
		opts := []string{volumeDriverOpt + mp.Driver}
		if !mp.RW {
			opts = append(opts, "ro")
		}
		if !mp.CopyData {
			opts = append(opts, volumeNoCopyOpt)
		}
		if vo := mp.Spec.VolumeOptions; vo != nil && vo.Subpath != "" {
			opts = append(opts, volumeSubpathOpt+vo.Subpath)
		}
		return specs.Mount{Destination: mp.Destination, Source: mp.Name, Type: VolumeMountType, Options: opts}, nil
	case mounttypes.TypeBind:
		return bindMount(mp.Source, mp.Destination, mp.RW, mp.Propagation, mp.Spec.BindOptions), nil
	}
	return specs.Mount{}, fmt.Errorf("mount type %q is not supported", mp.Type)
}

// bindMount is withMounts' bind: rbind (bind when non-recursive), "ro" when
// read-only (Moby prefers "rro" where the runtime supports it: see docs),
// and the propagation.
func bindMount(source, dest string, rw bool, propagation mounttypes.Propagation, bo *mounttypes.BindOptions) specs.Mount {
	mode := "rbind"
	if bo != nil && bo.NonRecursive {
		mode = "bind"
	}
	opts := []string{mode}
	if !rw {
		opts = append(opts, "ro")
	}
	if propagation == "" {
		propagation = mounttypes.PropagationRPrivate
	}
	opts = append(opts, string(propagation))
	return specs.Mount{Destination: dest, Source: source, Type: "bind", Options: opts}
}

// ApplyMounts parses reqs and lays them into spec as withMounts does: a
// user mount replaces the default mount on its destination (and a /dev
// mount those under /dev), and user mounts follow, parents before children.
// readOnly makes the root filesystem read-only (--read-only).
func ApplyMounts(spec *specs.Spec, reqs []MountRequest, readOnly bool) error {
	if spec == nil {
		return invalidSpec("it is null")
	}
	ums, err := ParseMounts(reqs)
	if err != nil {
		return err
	}
	if readOnly {
		if spec.Root == nil {
			return invalidSpec("root is missing")
		}
		spec.Root.Readonly = true
	}
	user := map[string]bool{}
	for _, m := range ums {
		user[m.Destination] = true
	}
	kept := spec.Mounts[:0]
	for _, m := range spec.Mounts {
		if user[m.Destination] || (user["/dev"] && strings.HasPrefix(m.Destination, "/dev/")) {
			continue
		}
		kept = append(kept, m)
	}
	// Moby's mounts sort: by the number of path parts, so parents come first.
	sort.SliceStable(ums, func(i, j int) bool {
		return parts(ums[i].Destination) < parts(ums[j].Destination)
	})
	for _, m := range ums {
		kept = append(kept, m.Mount)
	}
	spec.Mounts = kept
	return nil
}

func parts(p string) int { return len(strings.Split(strings.TrimSuffix(p, "/"), "/")) }

// volumeMount is a VolumeMountType mount read back.
type volumeMount struct {
	name, driver, subpath string
	readOnly, noCopy      bool
}

func readVolumeMount(m specs.Mount) (volumeMount, error) {
	v := volumeMount{name: m.Source, driver: "local"}
	for _, o := range m.Options {
		switch {
		case o == "ro":
			v.readOnly = true
		case o == volumeNoCopyOpt:
			v.noCopy = true
		case strings.HasPrefix(o, volumeDriverOpt):
			if d := strings.TrimPrefix(o, volumeDriverOpt); d != "" {
				v.driver = d
			}
		case strings.HasPrefix(o, volumeSubpathOpt):
			v.subpath = strings.TrimPrefix(o, volumeSubpathOpt)
		default:
			return v, errdefs.InvalidParameter(fmt.Errorf("volume mount %s: unknown option %q", m.Destination, o))
		}
	}
	if v.name == "" {
		return v, errdefs.InvalidParameter(errors.New("volume mount " + m.Destination + " has no volume name"))
	}
	return v, nil
}
