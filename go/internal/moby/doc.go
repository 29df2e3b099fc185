// Package moby calls the parts of Moby's containerd image service whose Go
// signatures differ between the build flavours (package c8d describes them),
// as dockerd of that flavour calls them: v26.go (//go:build !v28) for Moby
// v26.1.5, v28.go (//go:build v28) for Moby v28.5.2. Each function is one
// call, or the few calls dockerd makes in a row; none adds behaviour. Both
// go/core and the Go reference runner use it, so they stay at one Moby.
package moby

import (
	"github.com/docker/docker/container"
	daemonevents "github.com/docker/docker/daemon/events"
	"github.com/docker/docker/registry"
	containerd "pylibctrd/internal/c8d/client"
	"pylibctrd/internal/c8d/docker"
)

// ImageServiceConfig is what NewImageService needs; the identity mapping is
// always the empty one (no user namespace remapping) and the ref-counting
// mounter is Moby's, mounting under <Home>/rootfs/<Snapshotter>/<id>.
type ImageServiceConfig struct {
	Client        *containerd.Client
	Containers    container.Store
	Snapshotter   string
	Home          string               // dockerd's config.Root
	RegistryHosts docker.RegistryHosts // nil: no registry access
	Registry      *registry.Service    // nil: none
	Events        *daemonevents.Events
}
