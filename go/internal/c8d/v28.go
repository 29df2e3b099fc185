//go:build v28

package c8d

const (
	// Flavour is the Moby generation this library was built from.
	Flavour = "v28"
	// ContainerdModule is the module of containerd's Go client in this flavour.
	ContainerdModule = "github.com/containerd/containerd/v2"
)
