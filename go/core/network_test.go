package core

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/docker/errdefs"
	"github.com/vishvananda/netlink"
)

func TestNetworkNamesAreCheckedBeforeAnyFile(t *testing.T) {
	for _, bad := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("n", 300), "a b", "x\x00"} {
		if err := CheckNetworkName(bad); !errdefs.IsInvalidParameter(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, good := range []string{"bridge", "web_1", "a.b-c", strings.Repeat("n", 64)} {
		if err := CheckNetworkName(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
	n := NewNetworks(t.TempDir())
	if _, err := n.CreateNetwork(NetworkOptions{Name: "../x"}); !errdefs.IsInvalidParameter(err) {
		t.Fatal(err)
	}
	if _, err := n.CreateNetwork(NetworkOptions{Name: "host"}); !errdefs.IsConflict(err) {
		t.Fatal(err)
	}
	if err := n.RemoveNetwork("nope"); !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestParsePortsIsDockersSyntax(t *testing.T) {
	got, err := ParsePorts([]string{"80", "8080:80", "127.0.0.1:9000:90/udp", "127.0.0.1::70", "7000-7001:7000-7001"})
	if err != nil {
		t.Fatal(err)
	}
	want := []PortBinding{
		{"0.0.0.0", 0, 80, "tcp"}, {"0.0.0.0", 8080, 80, "tcp"}, {"127.0.0.1", 9000, 90, "udp"},
		{"127.0.0.1", 0, 70, "tcp"}, {"0.0.0.0", 7000, 7000, "tcp"}, {"0.0.0.0", 7001, 7001, "tcp"},
	}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"", "x", "0", "70000", "80/sctp", "1.2.3:80:80", "::1:80:80", "a:b:c:d"} {
		if _, err := ParsePorts([]string{bad}); !errdefs.IsInvalidParameter(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestConflistIsBridgeHostLocalPortmapFirewall(t *testing.T) {
	nw := Network{Name: "n", Subnet: "10.9.0.0/24", Gateway: "10.9.0.1", Bridge: "plc-x"}
	data, err := nw.Conflist("/s/ipam")
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, p := range conf.Plugins {
		types = append(types, p["type"].(string))
	}
	if conf.CNIVersion != "1.0.0" || strings.Join(types, ",") != "bridge,portmap,firewall" || conf.Name != "pylibctrd-n" {
		t.Fatalf("%s", data)
	}
	if ipam := conf.Plugins[0]["ipam"].(map[string]any); ipam["type"] != "host-local" || ipam["dataDir"] != "/s/ipam" {
		t.Fatalf("%s", data)
	}
}

func TestNetworkRequestAnnotation(t *testing.T) {
	spec := DefaultSpec()
	if req, err := DecodeNetworkRequest(spec); req != nil || err != nil {
		t.Fatal(req, err)
	}
	spec.Annotations = map[string]string{NetworkAnnotation: `{"ports":["80"]}`}
	req, err := DecodeNetworkRequest(spec)
	if err != nil || req.Network != DefaultNetwork || req.Ports[0] != "80" {
		t.Fatal(req, err)
	}
	spec.Annotations[NetworkAnnotation] = `{"netwerk":"x"}`
	if _, err := DecodeNetworkRequest(spec); !errdefs.IsInvalidParameter(err) {
		t.Fatal(err)
	}
	ApplyNetwork(spec, &NetworkSetup{NetNS: "/x/ns", Hostname: "h", Files: "/f"})
	found := 0
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == "network" && ns.Path == "/x/ns" {
			found++
		}
	}
	if found != 1 || spec.Hostname != "h" || spec.Mounts[len(spec.Mounts)-1].Source != "/f/resolv.conf" {
		t.Fatalf("%+v", spec)
	}
	ApplyNetwork(spec, &NetworkSetup{})
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == "network" {
			t.Fatal("host mode keeps a network namespace")
		}
	}
}

// realNetworking skips unless this process may run the CNI plugins.
func realNetworking(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		t.Skip("needs Debian's containernetworking-plugins")
	}
}

func nsExec(t *testing.T, nsPath string, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=" + nsPath}, args...)...).CombinedOutput()
	return string(out), err
}

// Two "containers" (namespaces without processes) on a real network: they
// reach each other and the gateway, and after teardown and removal nothing
// of them is left: no namespace, lease, iptables rule or bridge.
func TestSetupAndTeardownLeaveNothing(t *testing.T) {
	realNetworking(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state-network")
	n := NewNetworks(dir)
	nw, err := n.CreateNetwork(NetworkOptions{Name: "gotest", Subnet: "10.251.77.0/24", Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.Teardown(ctx, "gotest-a")
		_ = n.Teardown(ctx, "gotest-b")
		_ = n.RemoveNetwork("gotest")
	})
	if _, err := n.CreateNetwork(NetworkOptions{Name: "gotest2", Subnet: "10.251.77.128/25"}); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("overlap: %v", err)
	}
	a, err := n.Setup(ctx, "gotest-a", &NetworkRequest{Network: "gotest", Ports: []string{"127.0.0.1::80"}, Aliases: []string{"alpha"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Setup(ctx, "gotest-b", &NetworkRequest{Network: "gotest"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Setup(ctx, "gotest-b", &NetworkRequest{Network: "gotest"}, nil); !errdefs.IsConflict(err) {
		t.Fatalf("twice: %v", err)
	}
	epA, _ := n.Endpoints("gotest-a")
	epB, _ := n.Endpoints("gotest-b")
	if len(epA) != 1 || epA[0].IP == "" || epA[0].Ports[0].HostPort == 0 || epA[0].MAC == "" {
		t.Fatalf("%+v", epA)
	}
	if out, err := nsExec(t, b.NetNS, "busybox", "ping", "-c1", "-W2", epA[0].IP); err != nil {
		t.Fatalf("b cannot reach a: %v %s", err, out)
	}
	if out, err := nsExec(t, a.NetNS, "busybox", "ping", "-c1", "-W2", nw.Gateway); err != nil {
		t.Fatalf("a cannot reach the gateway: %v %s", err, out)
	}
	hostsB, _ := os.ReadFile(b.Files + "/hosts")
	if !strings.Contains(string(hostsB), epA[0].IP+"\tgotest-a alpha") {
		t.Fatalf("b's hosts: %s", hostsB)
	}
	hostsA, _ := os.ReadFile(a.Files + "/hosts")
	if !strings.Contains(string(hostsA), epB[0].IP+"\tgotest-b") {
		t.Fatalf("a's hosts: %s", hostsA)
	}
	if err := n.RemoveNetwork("gotest"); !errdefs.IsConflict(err) {
		t.Fatalf("in use: %v", err)
	}
	if err := n.Teardown(ctx, "gotest-a"); err != nil {
		t.Fatal(err)
	}
	hostsB, _ = os.ReadFile(b.Files + "/hosts")
	if strings.Contains(string(hostsB), "gotest-a") {
		t.Fatalf("a stays in b's hosts: %s", hostsB)
	}
	if err := n.Teardown(ctx, "gotest-b"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{a.NetNS, b.NetNS, a.Files} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is left", p)
		}
	}
	rules, _ := exec.Command("iptables-save").Output()
	for _, needle := range []string{"gotest-a", "gotest-b", epA[0].IP + "/", epB[0].IP + "/"} {
		if strings.Contains(string(rules), needle) {
			t.Errorf("iptables rule naming %s is left", needle)
		}
	}
	leases, _ := os.ReadDir(filepath.Join(dir, "ipam", "pylibctrd-gotest"))
	for _, l := range leases {
		if l.Name() != "lock" && !strings.HasPrefix(l.Name(), "last_reserved_ip") {
			t.Errorf("lease %s is left", l.Name())
		}
	}
	cache, _ := os.ReadDir("/var/lib/cni/results")
	for _, f := range cache {
		if strings.Contains(f.Name(), "gotest-") {
			t.Errorf("libcni's cached result %s is left", f.Name())
		}
	}
	if err := n.RemoveNetwork("gotest"); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(nw.Bridge); err == nil {
		t.Errorf("bridge %s is left", nw.Bridge)
	}
	if nets, _ := n.List(); len(nets) != 0 {
		t.Errorf("%+v", nets)
	}
}
