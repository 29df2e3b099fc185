package core

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/docker/docker/pkg/streamformatter"
)

// loadedRefs must read what Moby's LoadImage writes (through its own stream
// formatter), tagged and untagged images alike.
func TestLoadedRefsReadsLoadImageOutput(t *testing.T) {
	var buf bytes.Buffer
	w := streamformatter.NewStdoutWriter(&buf)
	fmt.Fprintf(w, "%s: %s\n", "Loaded image", "busybox:latest")
	fmt.Fprintf(w, "%s: %s\n", "Loaded image ID", "sha256:0123")
	refs, err := loadedRefs(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[0] != "busybox:latest" || refs[1] != "sha256:0123" {
		t.Fatalf("refs = %q", refs)
	}
	if _, err := loadedRefs(bytes.NewBufferString("{not json")); err == nil {
		t.Fatal("garbage output was accepted")
	}
}

func TestRootfsPathIsNeverABundleDir(t *testing.T) {
	c := &Client{stateDir: "/run/x/state"}
	if got := c.RootfsPath("ctr"); got != "/run/x/state-images/rootfs/overlayfs/ctr" {
		t.Fatalf("RootfsPath = %s", got)
	}
}
