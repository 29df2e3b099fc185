package core

// Networks through CNI, as containerd's CRI and nerdctl do it: containerd's
// go-cni drives the standard plugins (bridge + host-local IPAM + portmap +
// firewall, and loopback) on a network namespace the library makes per
// container (containerd's pkg/netns, bind-mounted under the library's
// state). Moby's libnetwork/resolvconf and etchosts write the container's
// /etc/resolv.conf and /etc/hosts. Nothing here is hand-written networking:
// no veth, no iptables rule, no address arithmetic beyond picking a free
// subnet (Moby's netutils checks it against the host's routes).
//
// State (<state_dir>-network, a sibling of the bundle dirs):
//
//	lock                  flock: one change at a time, across processes
//	networks/<name>.json  a network: name, subnet, gateway, internal, labels, bridge
//	containers/<id>.json  a container's setup: mode, netns, endpoints, hostname
//	netns/cni-<random>    the containers' network namespaces (bind mounts)
//	files/<id>/           hosts, resolv.conf, hostname (bind-mounted into the container)
//	ipam/<cni name>/      host-local's leases

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/docker/docker/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	// DefaultNetwork is the network of mode "bridge" (docker's default).
	DefaultNetwork = "bridge"
	// DefaultBridge is the default network's Linux bridge.
	DefaultBridge = "pylibctrd0"
	// DefaultSubnet is the default network's subnet unless the network is
	// created first with another (CreateNetwork("bridge", ...)) or
	// $PYLIBCTRD_BRIDGE_SUBNET names one.
	DefaultSubnet = "10.213.0.0/16"
	// userPool is where user-defined networks without a subnet get a /24.
	userPool = "10.214.0.0/16"
	// cniVersion is the CNI spec version of the generated configurations
	// (Debian's plugins 1.1.1 speak up to 1.0.0).
	cniVersion = "1.0.0"
	maxNameLen = 64
)

// CNIPluginDirs are where the CNI plugins are looked for: Debian's
// containernetworking-plugins, then the upstream default.
var CNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// Network is one network: a Linux bridge and its subnet.
type Network struct {
	Name     string            `json:"name"`
	Subnet   string            `json:"subnet"`
	Gateway  string            `json:"gateway"`
	Internal bool              `json:"internal"`
	Labels   map[string]string `json:"labels"`
	Bridge   string            `json:"bridge"`
}

// Networks is the library's network state under one directory.
type Networks struct {
	dir string
	mu  sync.Mutex // within this process; the lock file across processes
}

// NewNetworks is the network state kept in dir (made on first change).
func NewNetworks(dir string) *Networks { return &Networks{dir: dir} }

// Dir is where the state is kept.
func (n *Networks) Dir() string { return n.dir }

func (n *Networks) path(parts ...string) string {
	return filepath.Join(append([]string{n.dir}, parts...)...)
}

// locked runs f holding the state's lock.
func (n *Networks) locked(f func() error) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, d := range []string{"networks", "containers", "netns", "files", "ipam"} {
		if err := os.MkdirAll(n.path(d), 0o711); err != nil {
			return err
		}
	}
	fd, err := unix.Open(n.path("lock"), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("network state lock: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Flock(fd, unix.LOCK_EX); err != nil {
		return fmt.Errorf("network state lock: %w", err)
	}
	return f()
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// CheckNetworkName applies docker's name rule (and a length bound): a name
// becomes a file name, so nothing else may pass.
func CheckNetworkName(name string) error {
	shown := name
	if len(shown) > maxNameLen {
		shown = shown[:maxNameLen] + "..."
	}
	if len(name) > maxNameLen {
		return errdefs.InvalidParameter(fmt.Errorf("invalid network name %q: longer than %d characters", shown, maxNameLen))
	}
	if !validName.MatchString(name) {
		return errdefs.InvalidParameter(fmt.Errorf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", shown))
	}
	return nil
}

func notFoundNetwork(name string) error {
	return errdefs.NotFound(fmt.Errorf("network %s not found", name))
}

// writeJSON replaces path with v's JSON (written aside, then renamed).
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

func (n *Networks) load(name string) (*Network, error) {
	if err := CheckNetworkName(name); err != nil {
		return nil, err
	}
	var nw Network
	if err := readJSON(n.path("networks", name+".json"), &nw); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, notFoundNetwork(name)
		}
		return nil, err
	}
	return &nw, nil
}

func (n *Networks) list() ([]Network, error) {
	entries, err := os.ReadDir(n.path("networks"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	out := []Network{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		nw, err := n.load(name)
		if err != nil {
			continue // removed meanwhile, or not ours
		}
		out = append(out, *nw)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// List is every network, by name.
func (n *Networks) List() (out []Network, err error) {
	err = n.locked(func() error {
		out, err = n.list()
		return err
	})
	return out, err
}

// Get is one network.
func (n *Networks) Get(name string) (nw *Network, err error) {
	if err := CheckNetworkName(name); err != nil {
		return nil, err
	}
	err = n.locked(func() error {
		nw, err = n.load(name)
		return err
	})
	return nw, err
}

// NetworkOptions are CreateNetwork's arguments.
type NetworkOptions struct {
	Name     string
	Subnet   string // "" to pick a free one
	Gateway  string // "" for the subnet's first address
	Internal bool   // no route out, no masquerading
	Labels   map[string]string
}

// CreateNetwork stores a network (its bridge is made by the first container
// on it). The subnet must not overlap another network's or a route of the
// host's (Moby's checkRouteOverlaps).
func (n *Networks) CreateNetwork(o NetworkOptions) (nw *Network, err error) {
	if err := CheckNetworkName(o.Name); err != nil {
		return nil, err
	}
	if o.Name == "host" || o.Name == "none" {
		return nil, errdefs.Conflict(fmt.Errorf("network with name %s already exists: it is a mode, not a network (--network %s)", o.Name, o.Name))
	}
	err = n.locked(func() error {
		nw, err = n.create(o)
		return err
	})
	return nw, err
}

func (n *Networks) create(o NetworkOptions) (*Network, error) {
	if _, err := n.load(o.Name); err == nil {
		return nil, errdefs.Conflict(fmt.Errorf("network with name %s already exists", o.Name))
	} else if !errdefs.IsNotFound(err) {
		return nil, err
	}
	existing, err := n.list()
	if err != nil {
		return nil, err
	}
	bridge := DefaultBridge
	if o.Name != DefaultNetwork {
		sum := sha256.Sum256([]byte(n.dir + "\x00" + o.Name))
		bridge = "plc-" + hex.EncodeToString(sum[:])[:11]
	}
	var subnet *net.IPNet
	if o.Subnet == "" && o.Name == DefaultNetwork {
		o.Subnet = DefaultSubnet
		if env := os.Getenv("PYLIBCTRD_BRIDGE_SUBNET"); env != "" {
			o.Subnet = env
		}
	}
	if o.Subnet != "" {
		if subnet, err = parseSubnet(o.Subnet); err != nil {
			return nil, err
		}
		if err := checkOverlaps(subnet, existing, bridge); err != nil {
			return nil, err
		}
	} else if subnet, err = freeSubnet(existing); err != nil {
		return nil, err
	}
	gateway, err := pickGateway(subnet, o.Gateway)
	if err != nil {
		return nil, err
	}
	labels := o.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	nw := &Network{Name: o.Name, Subnet: subnet.String(), Gateway: gateway.String(), Internal: o.Internal, Labels: labels, Bridge: bridge}
	return nw, writeJSON(n.path("networks", o.Name+".json"), nw)
}

func parseSubnet(s string) (*net.IPNet, error) {
	ip, subnet, err := net.ParseCIDR(s)
	if err != nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("invalid subnet %q: %w", s, err))
	}
	if ip.To4() == nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("invalid subnet %s: only IPv4 subnets are supported", s))
	}
	if ones, bits := subnet.Mask.Size(); bits-ones < 2 {
		return nil, errdefs.InvalidParameter(fmt.Errorf("invalid subnet %s: too small for a gateway and a container", s))
	}
	return subnet, nil
}

// checkOverlaps refuses a subnet that another network has, or that a route
// of the host's covers (unless that is the route of the network's own bridge,
// left from an earlier run).
func checkOverlaps(subnet *net.IPNet, existing []Network, bridge string) error {
	for _, other := range existing {
		_, theirs, err := net.ParseCIDR(other.Subnet)
		if err == nil && networkOverlaps(subnet, theirs) {
			return errdefs.InvalidParameter(fmt.Errorf("subnet %s overlaps with network %s (%s)", subnet, other.Name, other.Subnet))
		}
	}
	if _, err := netlink.LinkByName(bridge); err == nil {
		return nil
	}
	if err := checkRouteOverlaps(subnet); err != nil {
		return errdefs.InvalidParameter(fmt.Errorf("subnet %s overlaps with a route of the host: %w", subnet, err))
	}
	return nil
}

// freeSubnet is the first /24 of the user pool that no network has and no
// route of the host's covers.
func freeSubnet(existing []Network) (*net.IPNet, error) {
	_, pool, _ := net.ParseCIDR(userPool)
	base := binary.BigEndian.Uint32(pool.IP.To4())
	var candidates []*net.IPNet
	for i := uint32(0); i < 256; i++ {
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, base+i<<8)
		c := &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}
		taken := false
		for _, other := range existing {
			if _, theirs, err := net.ParseCIDR(other.Subnet); err == nil && networkOverlaps(c, theirs) {
				taken = true
				break
			}
		}
		if !taken {
			candidates = append(candidates, c)
		}
	}
	subnet, err := findAvailableNetwork(candidates)
	if err != nil {
		return nil, errdefs.Unavailable(fmt.Errorf("no free subnet in %s: %w", userPool, err))
	}
	return subnet, nil
}

func pickGateway(subnet *net.IPNet, given string) (net.IP, error) {
	first, last := networkRange(subnet)
	if given == "" {
		gw := make(net.IP, 4)
		binary.BigEndian.PutUint32(gw, binary.BigEndian.Uint32(first.To4())+1)
		return gw, nil
	}
	gw := net.ParseIP(given).To4()
	if gw == nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("invalid gateway %q", given))
	}
	if !subnet.Contains(gw) || gw.Equal(first.To4()) || gw.Equal(last.To4()) {
		return nil, errdefs.InvalidParameter(fmt.Errorf("gateway %s is not a host address of subnet %s", gw, subnet))
	}
	return gw, nil
}

// cniName is the network's name in CNI (in host-local's lease dir and in
// the plugins' iptables comments).
func (nw *Network) cniName() string { return "pylibctrd-" + nw.Name }

// Conflist is the network's CNI configuration: bridge with host-local IPAM,
// portmap and firewall, as nerdctl generates for its bridge networks.
func (nw *Network) Conflist(ipamDir string) ([]byte, error) {
	routes := []map[string]string{{"dst": "0.0.0.0/0"}}
	if nw.Internal {
		routes = []map[string]string{}
	}
	conf := map[string]any{
		"cniVersion": cniVersion,
		"name":       nw.cniName(),
		"plugins": []map[string]any{
			{
				"type":        "bridge",
				"bridge":      nw.Bridge,
				"isGateway":   !nw.Internal,
				"ipMasq":      !nw.Internal,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": nw.Subnet, "gateway": nw.Gateway}}},
					"routes":  routes,
					"dataDir": ipamDir,
				},
			},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			{"type": "firewall"},
		},
	}
	return json.Marshal(conf)
}

// RemoveNetwork removes a network no container is on, with its bridge and
// host-local's lease dir.
func (n *Networks) RemoveNetwork(name string) error {
	if err := CheckNetworkName(name); err != nil {
		return err
	}
	return n.locked(func() error {
		nw, err := n.load(name)
		if err != nil {
			return err
		}
		records, err := n.records()
		if err != nil {
			return err
		}
		var users []string
		for _, r := range records {
			if r.endpoint(name) != nil {
				users = append(users, r.ID)
			}
		}
		if len(users) > 0 {
			return errdefs.Conflict(fmt.Errorf("error while removing network: network %s has active endpoints (%s)", name, strings.Join(users, ", ")))
		}
		if link, err := netlink.LinkByName(nw.Bridge); err == nil {
			if err := netlink.LinkDel(link); err != nil {
				return fmt.Errorf("remove bridge %s: %w", nw.Bridge, err)
			}
		}
		if err := os.RemoveAll(n.path("ipam", nw.cniName())); err != nil {
			return err
		}
		return os.Remove(n.path("networks", name+".json"))
	})
}
