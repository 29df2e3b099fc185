package c8d

import (
	"os"
	"regexp"
	"testing"
)

// The versions the flavour names in its errors are the ones its module file
// requires (go.mod for v26, go.v28.mod for v28).
func TestPinsAreTheModuleFiles(t *testing.T) {
	data, err := os.ReadFile("../../" + ModFile)
	if err != nil {
		t.Fatal(err)
	}
	for module, want := range map[string]string{
		"github.com/docker/docker": MobyVersion + "+incompatible",
		ContainerdModule:           ContainerdVersion,
	} {
		m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(module) + `\s+(\S+)`).FindSubmatch(data)
		if m == nil {
			t.Fatalf("%s requires no %s", ModFile, module)
		}
		if string(m[1]) != want {
			t.Errorf("%s requires %s %s; c8d says %s", ModFile, module, m[1], want)
		}
	}
}
