package core

import (
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/docker/docker/errdefs"
)

// MinContainerd is the oldest containerd server this build connects to.
// Moby checks no server version itself; this flavour (Moby v26.1.5, whose
// vendored client is containerd v1.7.18) is held to the release line before
// its client's, 1.6, the oldest containerd that Moby v26 supported (and
// Debian 12's 1.6.20 passes the suite). Older servers are refused at
// connect, never deep in a call.
const MinContainerd = "1.6.0"

// mobyModule and clientModule name this flavour in the error.
const (
	mobyModule   = "github.com/docker/docker"
	clientModule = "github.com/containerd/containerd"
)

// CheckServerVersion refuses a containerd older than MinContainerd, with an
// error naming both versions (Moby's NotImplemented class: the server lacks
// what this client needs). A version it cannot read (a dev build) passes.
func CheckServerVersion(address, version string) error {
	have, ok := parseVersion(version)
	if !ok {
		return nil
	}
	need, _ := parseVersion(MinContainerd)
	for i := range need {
		if have[i] != need[i] {
			if have[i] > need[i] {
				return nil
			}
			return errdefs.NotImplemented(fmt.Errorf("containerd %s at %s is too old for this build of pylibctrd"+
				" (Moby %s, containerd client %s): it needs containerd %s or newer",
				version, address, buildVersion(mobyModule), buildVersion(clientModule), MinContainerd))
		}
	}
	return nil
}

// parseVersion reads major.minor.patch from "v1.7.35", "1.6.20~ds1",
// "2.4.2+unknown".
func parseVersion(v string) ([3]int, bool) {
	var out [3]int
	v = strings.TrimPrefix(v, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return out, false
	}
	for i, p := range parts {
		end := 0
		for end < len(p) && p[end] >= '0' && p[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(p[:end])
		if err != nil {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

func buildVersion(module string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == module {
				if m.Replace != nil {
					m = m.Replace
				}
				return strings.TrimSuffix(m.Version, "+incompatible")
			}
		}
	}
	return "(unknown)"
}
