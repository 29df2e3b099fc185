package core

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/errdefs"

	"pylibctrd/internal/c8d"
)

// MinContainerd is the oldest containerd server this build connects to: a
// fact of the build flavour, kept with its sources in internal/c8d (v26.go,
// v28.go).
const MinContainerd = c8d.MinContainerd

// CheckServerVersion refuses a containerd older than MinContainerd, with an
// error naming both versions and the flavour's Moby and containerd client
// (Moby's NotImplemented class: the server lacks what this client needs). A
// version it cannot read (a dev build) passes.
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
				" (flavour %s: Moby %s, containerd client %s): it needs containerd %s or newer",
				version, address, c8d.Flavour, c8d.MobyVersion, c8d.ContainerdVersion, MinContainerd))
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
