//go:build v28

package c8d

const (
	// Flavour is the Moby generation this library was built from.
	Flavour = "v28"
	// ContainerdModule is the module of containerd's Go client in this flavour.
	ContainerdModule = "github.com/containerd/containerd/v2"
	// ModFile is this flavour's module file (in go/); MobyVersion and
	// ContainerdVersion are the versions it requires of Moby and of
	// ContainerdModule (held equal to it by pins_test.go).
	ModFile           = "go.v28.mod"
	MobyVersion       = "v28.5.2"
	ContainerdVersion = "v2.1.4"
	// MinContainerd is the oldest containerd server this flavour connects
	// to (core.CheckServerVersion refuses older ones at connect). Neither
	// Moby v28.5.2 nor containerd's v2 client (v2.1.4) checks a server
	// version, and Moby v28.5.2's project/PACKAGERS.md still asks for
	// containerd 1.6.22 or later (1.7.0 to 1.7.2 incompatible), as v26's
	// does: the v2 client keeps containerd 1.6 servers. Its 1.7+ services
	// (Transfer, Sandbox, Introspection's PluginInfo: TransferService,
	// SandboxStore, SandboxController, RuntimeInfo in client/client.go) have
	// no caller in Moby v28.5.2, and containerd 2.x kept its gRPC API at
	// 1.x (RELEASES.md). So the line is the v26 flavour's, 1.6, for the
	// same reasons (docs/servers.md "Too old").
	MinContainerd = "1.6.0"
)
