//go:build v28

package core

// What the v28 flavour's connect check must say (internal/c8d/v28.go).
const (
	wantFlavour       = "v28"
	wantMoby          = "v28.5.2"
	wantClient        = "v2.1.4"
	wantMinContainerd = "1.6.0"
)

// certsDirReplaceable: can a client's certs-dir replace the one in use? Moby v28 sets the directory once per process (sync.Once).
const certsDirReplaceable = false
