//go:build v28

package core

// What the v28 flavour's connect check must say (internal/c8d/v28.go).
const (
	wantFlavour       = "v28"
	wantMoby          = "v28.5.2"
	wantClient        = "v2.1.4"
	wantMinContainerd = "1.6.0"
)
