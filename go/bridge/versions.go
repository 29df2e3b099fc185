package bridge

import (
	"runtime/debug"

	"pylibctrd/internal/c8d"
)

// The modules whose versions a user may check (pylibctrd.versions()).
const (
	MobyModule       = "github.com/docker/docker"
	ContainerdModule = c8d.ContainerdModule // .../containerd or .../containerd/v2, by flavour
)

// Versions answers {"flavour", "go", "moby", "containerd"}: the build flavour
// (c8d.Flavour, "v26" or "v28"), the Go toolchain and the module versions this
// binary was linked from, read from the build
// information Go embeds in every binary (c-shared libraries too), so they
// cannot disagree with what was built.
func Versions() (Result, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return None(Errorf(CodeNotImplemented, "the library carries no Go build information"))
	}
	return JSON(map[string]string{
		"flavour":    c8d.Flavour,
		"go":         info.GoVersion,
		"moby":       moduleVersion(info, MobyModule),
		"containerd": moduleVersion(info, ContainerdModule),
	})
}

// moduleVersion is the version of module path in the build ("" if absent),
// following a replace directive as the linker did.
func moduleVersion(info *debug.BuildInfo, path string) string {
	for _, m := range info.Deps {
		if m.Path == path {
			if m.Replace != nil {
				return m.Replace.Version
			}
			return m.Version
		}
	}
	return ""
}
