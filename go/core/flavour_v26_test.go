//go:build !v28

package core

// What the v26 flavour's connect check must say (internal/c8d/v26.go).
const (
	wantFlavour       = "v26"
	wantMoby          = "v26.1.5"
	wantClient        = "v1.7.18"
	wantMinContainerd = "1.6.0"
)

// certsDirReplaceable: can a client's certs-dir replace the one in use? Moby v26's SetCertsDir replaces the directory.
const certsDirReplaceable = true
