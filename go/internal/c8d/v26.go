//go:build !v28

package c8d

const (
	// Flavour is the Moby generation this library was built from.
	Flavour = "v26"
	// ContainerdModule is the module of containerd's Go client in this flavour.
	ContainerdModule = "github.com/containerd/containerd"
	// ModFile is this flavour's module file (in go/); MobyVersion and
	// ContainerdVersion are the versions it requires of Moby and of
	// ContainerdModule (held equal to it by pins_test.go).
	ModFile           = "go.mod"
	MobyVersion       = "v26.1.5"
	ContainerdVersion = "v1.7.18"
	// MinContainerd is the oldest containerd server this flavour connects
	// to (core.CheckServerVersion refuses older ones at connect). Neither
	// Moby v26.1.5 nor containerd's client v1.7.18 checks a server version.
	// Moby v26.1.5's project/PACKAGERS.md asks for containerd 1.6.22 or
	// later (1.7.0 to 1.7.2 incompatible): the shim bug of containerd#8557
	// (concurrent exec starts in one task take seconds to minutes), whose
	// workaround Moby removed in v25 (moby#46778). That is a slow shim, not
	// an API the client lacks, and Debian 12's 1.6.20 has it; so the
	// refusal is at the API line, 1.6: every service libcontainerd and
	// Moby's image service call is in containerd 1.6's gRPC API
	// (docs/servers.md "Too old").
	MinContainerd = "1.6.0"
)
