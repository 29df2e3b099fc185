package core

// A container's network setup: made before the container (its netns path
// goes into the spec), torn down with it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	gocni "github.com/containerd/go-cni"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/libnetwork/etchosts"
	"github.com/docker/docker/libnetwork/resolvconf"
	"github.com/docker/go-connections/nat"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"pylibctrd/internal/c8d/identifiers"
	"pylibctrd/internal/c8d/netns"
)

// NetworkAnnotation is the spec annotation that asks NewContainer for a
// network setup: a NetworkRequest as JSON.
const NetworkAnnotation = "org.pylibctrd.network"

// Modes other than a network's name.
const (
	ModeHost      = "host"
	ModeNone      = "none"
	containerMode = "container:"
)

// NetworkRequest is what a container asks for (docker run's network flags).
type NetworkRequest struct {
	Network    string   `json:"network"` // a network's name, "bridge" (""), "host", "none" or "container:<id>"
	Ports      []string `json:"ports,omitempty"`
	Aliases    []string `json:"aliases,omitempty"`
	IP         string   `json:"ip,omitempty"`
	Hostname   string   `json:"hostname,omitempty"`
	DNS        []string `json:"dns,omitempty"`
	DNSSearch  []string `json:"dns_search,omitempty"`
	DNSOptions []string `json:"dns_options,omitempty"`
	ExtraHosts []string `json:"extra_hosts,omitempty"` // "name:ip"
}

// PortBinding is one published port.
type PortBinding struct {
	HostIP        string `json:"host_ip"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	Proto         string `json:"proto"`
}

// Endpoint is a container's attachment to a network.
type Endpoint struct {
	Network   string        `json:"network"`
	Interface string        `json:"interface"`
	IP        string        `json:"ip"`
	Gateway   string        `json:"gateway"`
	MAC       string        `json:"mac"`
	Ports     []PortBinding `json:"ports"`
	Aliases   []string      `json:"aliases"`
}

// hostsRecord is the endpoint's line in its peers' /etc/hosts.
func (e *Endpoint) hostsRecord(id string) etchosts.Record {
	return hostsRecord(strings.Join(append([]string{id}, e.Aliases...), " "), e.IP)
}

// record is a container's setup as stored.
type record struct {
	ID         string            `json:"id"`
	Mode       string            `json:"mode"` // "cni" (on networks), "none", "host", "container"
	NetNS      string            `json:"netns,omitempty"`
	Owner      string            `json:"owner,omitempty"` // mode container: whose namespace
	Hostname   string            `json:"hostname,omitempty"`
	Files      string            `json:"files,omitempty"` // dir of hosts, resolv.conf, hostname
	ExtraHosts []etchosts.Record `json:"extra_hosts,omitempty"`
	Endpoints  []Endpoint        `json:"endpoints"`
}

func (r *record) endpoint(network string) *Endpoint {
	for i := range r.Endpoints {
		if r.Endpoints[i].Network == network {
			return &r.Endpoints[i]
		}
	}
	return nil
}

func (r *record) hostsPath() string {
	if r.Files == "" {
		return ""
	}
	return r.Files + "/hosts"
}

func (n *Networks) recordPath(id string) string { return n.path("containers", id+".json") }

func (n *Networks) loadRecord(id string) (*record, error) {
	var r record
	if err := readJSON(n.recordPath(id), &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (n *Networks) records() ([]*record, error) {
	entries, err := os.ReadDir(n.path("containers"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var out []*record
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if r, err := n.loadRecord(id); err == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// ParsePorts reads docker's -p specs ([IP:][HOSTPORT:]PORT[/PROTO], ranges
// too) with docker's own parser (go-connections/nat). A host port 0 is
// picked when the container is set up.
func ParsePorts(specs []string) ([]PortBinding, error) {
	var out []PortBinding
	for _, s := range specs {
		mappings, err := nat.ParsePortSpec(s)
		if err != nil {
			return nil, errdefs.InvalidParameter(fmt.Errorf("invalid port specification %q: %w", s, err))
		}
		for _, m := range mappings {
			proto := m.Port.Proto()
			if proto != "tcp" && proto != "udp" {
				return nil, errdefs.InvalidParameter(fmt.Errorf("invalid port specification %q: protocol %s is not supported (tcp, udp)", s, proto))
			}
			hostPort := 0
			if m.Binding.HostPort != "" {
				if hostPort, err = strconv.Atoi(m.Binding.HostPort); err != nil || hostPort < 1 || hostPort > 65535 {
					return nil, errdefs.InvalidParameter(fmt.Errorf("invalid port specification %q: bad host port", s))
				}
			}
			ctrPort := m.Port.Int()
			if ctrPort < 1 || ctrPort > 65535 {
				return nil, errdefs.InvalidParameter(fmt.Errorf("invalid port specification %q: bad container port", s))
			}
			hostIP := m.Binding.HostIP
			if hostIP == "" {
				hostIP = "0.0.0.0"
			} else if ip := net.ParseIP(hostIP); ip == nil || ip.To4() == nil {
				return nil, errdefs.InvalidParameter(fmt.Errorf("invalid port specification %q: host IP must be IPv4", s))
			}
			out = append(out, PortBinding{HostIP: hostIP, HostPort: hostPort, ContainerPort: ctrPort, Proto: proto})
		}
	}
	return out, nil
}

// parseExtraHosts reads docker's --add-host entries "name:ip".
func parseExtraHosts(entries []string) ([]etchosts.Record, error) {
	var out []etchosts.Record
	for _, e := range entries {
		name, ip, ok := strings.Cut(e, ":")
		if !ok || name == "" || net.ParseIP(ip) == nil || strings.ContainsAny(name, " \t\n") {
			return nil, errdefs.InvalidParameter(fmt.Errorf("invalid extra host %q: want name:ip", e))
		}
		out = append(out, hostsRecord(name, ip))
	}
	return out, nil
}

// DecodeNetworkRequest reads the spec's request; nil if it has none.
func DecodeNetworkRequest(spec *specs.Spec) (*NetworkRequest, error) {
	if spec == nil || spec.Annotations == nil {
		return nil, nil
	}
	raw, ok := spec.Annotations[NetworkAnnotation]
	if !ok {
		return nil, nil
	}
	var req NetworkRequest
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, errdefs.InvalidParameter(fmt.Errorf("annotation %s is not valid: %w", NetworkAnnotation, err))
	}
	if req.Network == "" {
		req.Network = DefaultNetwork
	}
	return &req, nil
}

// checkPorts picks host ports for those given as 0 and refuses a port that
// is taken: by another container's binding (portmap's DNAT has no socket to
// collide with) or by a socket of the host (portmap would not notice).
func (n *Networks) checkPorts(ports []PortBinding) error {
	records, err := n.records()
	if err != nil {
		return err
	}
	taken := map[string]bool{}
	key := func(proto string, port int) string { return proto + "/" + strconv.Itoa(port) }
	for _, r := range records {
		for _, e := range r.Endpoints {
			for _, p := range e.Ports {
				taken[key(p.Proto, p.HostPort)] = true
			}
		}
	}
	for i := range ports {
		p := &ports[i]
		if p.HostPort != 0 {
			if taken[key(p.Proto, p.HostPort)] {
				return portTaken(p)
			}
			if err := probe(p.Proto, p.HostIP, p.HostPort); err != nil {
				return portTaken(p)
			}
		} else {
			for tries := 0; p.HostPort == 0; tries++ {
				port, err := freePort(p.Proto, p.HostIP)
				if err != nil || tries > 50 {
					return errdefs.Unavailable(fmt.Errorf("no free host port for %d/%s: %v", p.ContainerPort, p.Proto, err))
				}
				if !taken[key(p.Proto, port)] {
					p.HostPort = port
				}
			}
		}
		taken[key(p.Proto, p.HostPort)] = true
	}
	return nil
}

func portTaken(p *PortBinding) error {
	return errdefs.Conflict(fmt.Errorf("Bind for %s:%d failed: port is already allocated", p.HostIP, p.HostPort))
}

func listen(proto, ip string, port int) (int, error) {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	if proto == "udp" {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func probe(proto, ip string, port int) error { _, err := listen(proto, ip, port); return err }

func freePort(proto, ip string) (int, error) { return listen(proto, ip, 0) }

// cniFor is a go-cni instance for one network, its interface the slot's:
// eth0 for the first network, eth<slot>_0 for networks connected later
// (go-cni names an interface <prefix><index>).
func (n *Networks) cniFor(nw *Network, iface string) (gocni.CNI, error) {
	conf, err := nw.Conflist(n.path("ipam"))
	if err != nil {
		return nil, err
	}
	prefix := strings.TrimSuffix(iface, "0")
	return gocni.New(gocni.WithPluginDir(CNIPluginDirs), gocni.WithInterfacePrefix(prefix), gocni.WithConfListBytes(conf))
}

func ifaceFor(slot int) string {
	if slot == 0 {
		return "eth0"
	}
	return fmt.Sprintf("eth%d_0", slot)
}

func loopback() (gocni.CNI, error) {
	return gocni.New(gocni.WithPluginDir(CNIPluginDirs), gocni.WithLoNetwork)
}

func portMappings(ports []PortBinding) []gocni.PortMapping {
	out := make([]gocni.PortMapping, 0, len(ports))
	for _, p := range ports {
		hostIP := p.HostIP
		if hostIP == "0.0.0.0" {
			hostIP = ""
		}
		out = append(out, gocni.PortMapping{HostPort: int32(p.HostPort), ContainerPort: int32(p.ContainerPort), Protocol: p.Proto, HostIP: hostIP})
	}
	return out
}

// attach runs CNI ADD for one network on the record's netns.
func (n *Networks) attach(ctx context.Context, r *record, nw *Network, iface string, ports []PortBinding, aliases []string, ip string) (*Endpoint, error) {
	cni, err := n.cniFor(nw, iface)
	if err != nil {
		return nil, err
	}
	opts := []gocni.NamespaceOpts{gocni.WithCapabilityPortMap(portMappings(ports))}
	if ip != "" {
		want := net.ParseIP(ip).To4()
		_, subnet, _ := net.ParseCIDR(nw.Subnet)
		if want == nil || subnet == nil || !subnet.Contains(want) {
			return nil, errdefs.InvalidParameter(fmt.Errorf("invalid IP %q: not an address of network %s (%s)", ip, nw.Name, nw.Subnet))
		}
		opts = append(opts, gocni.WithArgs("IgnoreUnknown", "1"), gocni.WithArgs("IP", want.String()))
	}
	res, err := cni.Setup(ctx, r.ID, r.NetNS, opts...)
	if err != nil {
		// ADD failed half way: DEL is CNI's undo (each plugin cleans up what it made).
		_ = cni.Remove(context.WithoutCancel(ctx), r.ID, r.NetNS, opts...)
		return nil, fmt.Errorf("network %s: %w", nw.Name, err)
	}
	e := &Endpoint{Network: nw.Name, Interface: iface, Gateway: nw.Gateway, Ports: ports, Aliases: aliases}
	if cfg := res.Interfaces[iface]; cfg != nil {
		e.MAC = cfg.Mac
		for _, c := range cfg.IPConfigs {
			if c.IP.To4() != nil {
				e.IP = c.IP.String()
				if c.Gateway != nil {
					e.Gateway = c.Gateway.String()
				}
				break
			}
		}
	}
	if e.Ports == nil {
		e.Ports = []PortBinding{}
	}
	if e.Aliases == nil {
		e.Aliases = []string{}
	}
	return e, nil
}

// detach runs CNI DEL for one endpoint.
func (n *Networks) detach(ctx context.Context, r *record, e *Endpoint) error {
	nw, err := n.load(e.Network)
	if err != nil {
		return err
	}
	cni, err := n.cniFor(nw, e.Interface)
	if err != nil {
		return err
	}
	if err := cni.Remove(ctx, r.ID, r.NetNS, gocni.WithCapabilityPortMap(portMappings(e.Ports))); err != nil {
		return fmt.Errorf("network %s: %w", e.Network, err)
	}
	return nil
}

// peers are the other containers on network (with their own hosts file).
func (n *Networks) peers(id, network string) []*record {
	records, _ := n.records()
	var out []*record
	for _, r := range records {
		if r.ID != id && r.endpoint(network) != nil && r.hostsPath() != "" {
			out = append(out, r)
		}
	}
	return out
}

// announce adds the endpoint to its peers' /etc/hosts and theirs to its own.
func (n *Networks) announce(r *record, e *Endpoint) error {
	var theirs []etchosts.Record
	for _, p := range n.peers(r.ID, e.Network) {
		if err := etchosts.Add(p.hostsPath(), []etchosts.Record{e.hostsRecord(r.ID)}); err != nil {
			return err
		}
		theirs = append(theirs, p.endpoint(e.Network).hostsRecord(p.ID))
	}
	return etchosts.Add(r.hostsPath(), theirs)
}

// withdraw takes the endpoint out of its peers' /etc/hosts (and theirs out
// of its own, when it stays).
func (n *Networks) withdraw(r *record, e *Endpoint, own bool) error {
	var errs []error
	var theirs []etchosts.Record
	for _, p := range n.peers(r.ID, e.Network) {
		if err := etchosts.Delete(p.hostsPath(), []etchosts.Record{e.hostsRecord(r.ID)}); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		theirs = append(theirs, p.endpoint(e.Network).hostsRecord(p.ID))
	}
	if own && r.hostsPath() != "" {
		errs = append(errs, etchosts.Delete(r.hostsPath(), append(theirs, e.hostsRecord(r.ID))))
	}
	return errors.Join(errs...)
}

// NetworkSetup is what the spec needs from a setup.
type NetworkSetup struct {
	NetNS    string // the network namespace path; "" to share the host's
	Hostname string // "" to leave the spec's
	Files    string // dir with hosts, resolv.conf, hostname ("" for none)
}

// Setup sets container id's network up as req asks: the namespace, CNI
// ADD (with its ports and aliases), and the files. On error nothing is left.
// pidOf finds a running container's pid (container:<id> on a container the
// library did not set up).
func (n *Networks) Setup(ctx context.Context, id string, req *NetworkRequest, pidOf func(string) (uint32, error)) (s *NetworkSetup, err error) {
	if err := identifiers.Validate(id); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	ports, err := ParsePorts(req.Ports)
	if err != nil {
		return nil, err
	}
	extra, err := parseExtraHosts(req.ExtraHosts)
	if err != nil {
		return nil, err
	}
	for _, d := range req.DNS {
		if net.ParseIP(d) == nil {
			return nil, errdefs.InvalidParameter(fmt.Errorf("invalid DNS server %q: not an IP address", d))
		}
	}
	mode := req.Network
	shared := mode == ModeHost || strings.HasPrefix(mode, containerMode)
	if shared && (len(ports) > 0 || len(req.Aliases) > 0 || req.IP != "") {
		return nil, errdefs.InvalidParameter(fmt.Errorf("conflicting options: port publishing, aliases and IP need a network of the container's own, not --network %s", mode))
	}
	if mode == ModeNone && (len(ports) > 0 || len(req.Aliases) > 0 || req.IP != "") {
		return nil, errdefs.InvalidParameter(errors.New("conflicting options: port publishing, aliases and IP need a network, not --network none"))
	}
	if strings.HasPrefix(mode, containerMode) && (req.Hostname != "" || len(req.DNS) > 0 || len(extra) > 0) {
		return nil, errdefs.InvalidParameter(fmt.Errorf("conflicting options: hostname, DNS and extra hosts come from the container whose network is shared (--network %s)", mode))
	}
	err = n.locked(func() error {
		if _, err := os.Stat(n.recordPath(id)); err == nil {
			return errdefs.Conflict(errors.New("id already in use"))
		}
		s, err = n.setup(ctx, id, req, ports, extra, pidOf)
		return err
	})
	return s, err
}

func (n *Networks) setup(ctx context.Context, id string, req *NetworkRequest, ports []PortBinding, extra []etchosts.Record, pidOf func(string) (uint32, error)) (*NetworkSetup, error) {
	mode := req.Network
	r := &record{ID: id, ExtraHosts: extra, Endpoints: []Endpoint{}}
	if owner, ok := strings.CutPrefix(mode, containerMode); ok {
		r.Mode, r.Owner = "container", owner
		if o, err := n.loadRecord(owner); err == nil {
			if o.Mode == "host" {
				return nil, errdefs.InvalidParameter(fmt.Errorf("container %s shares the host's network: use --network host", owner))
			}
			if o.Mode == "container" {
				return nil, errdefs.InvalidParameter(fmt.Errorf("container %s shares the network of %s: join that one", owner, o.Owner))
			}
			r.NetNS, r.Hostname, r.Files = o.NetNS, o.Hostname, o.Files
		} else {
			pid, err := pidOf(owner)
			if err != nil {
				return nil, fmt.Errorf("cannot join the network of container %s: %w", owner, err)
			}
			r.NetNS = fmt.Sprintf("/proc/%d/ns/net", pid)
		}
		return &NetworkSetup{NetNS: r.NetNS, Hostname: r.Hostname, Files: r.Files}, writeJSON(n.recordPath(id), r)
	}
	var nw *Network
	switch mode {
	case ModeHost:
		r.Mode = "host"
	case ModeNone:
		r.Mode = "none"
	default:
		var err error
		if nw, err = n.load(mode); errdefs.IsNotFound(err) && mode == DefaultNetwork {
			nw, err = n.create(NetworkOptions{Name: DefaultNetwork})
		}
		if err != nil {
			return nil, err
		}
		if err := n.checkPorts(ports); err != nil {
			return nil, err
		}
		r.Mode = "cni"
	}
	r.Hostname = req.Hostname
	if r.Hostname == "" {
		if mode == ModeHost {
			r.Hostname, _ = os.Hostname()
		} else {
			r.Hostname = id
			if len(r.Hostname) > 12 {
				r.Hostname = r.Hostname[:12]
			}
		}
	}
	ok := false
	defer func() {
		if !ok {
			_ = n.teardown(context.WithoutCancel(ctx), r)
		}
	}()
	r.Files = n.path("files", id)
	if err := os.MkdirAll(r.Files, 0o755); err != nil {
		return nil, err
	}
	if mode != ModeHost {
		ns, err := netns.NewNetNS(n.path("netns"))
		if err != nil {
			return nil, err
		}
		r.NetNS = ns.GetPath()
	}
	// Recorded before any plugin runs: a crash from here on leaves a record
	// that teardown (and the documented cleanup) can finish.
	if err := writeJSON(n.recordPath(id), r); err != nil {
		return nil, err
	}
	if r.NetNS != "" {
		lo, err := loopback()
		if err != nil {
			return nil, err
		}
		if _, err := lo.Setup(ctx, id, r.NetNS); err != nil {
			return nil, fmt.Errorf("loopback: %w", err)
		}
	}
	if nw != nil {
		e, err := n.attach(ctx, r, nw, ifaceFor(0), ports, req.Aliases, req.IP)
		if err != nil {
			return nil, err
		}
		r.Endpoints = append(r.Endpoints, *e)
		if err := writeJSON(n.recordPath(id), r); err != nil {
			return nil, err
		}
	}
	if err := n.writeFiles(r, req); err != nil {
		return nil, err
	}
	for i := range r.Endpoints {
		if err := n.announce(r, &r.Endpoints[i]); err != nil {
			return nil, err
		}
	}
	ok = true
	return &NetworkSetup{NetNS: r.NetNS, Hostname: r.Hostname, Files: r.Files}, nil
}

// writeFiles writes /etc/hostname, /etc/hosts and /etc/resolv.conf as
// dockerd does: the host's files in host mode, else hosts with the
// container's own addresses and the extra hosts, and the host's
// resolv.conf without loopback resolvers (or the DNS servers given).
func (n *Networks) writeFiles(r *record, req *NetworkRequest) error {
	if err := os.WriteFile(r.Files+"/hostname", []byte(r.Hostname+"\n"), 0o644); err != nil {
		return err
	}
	hosts := r.hostsPath()
	resolv := r.Files + "/resolv.conf"
	if r.Mode == "host" {
		data, err := os.ReadFile("/etc/hosts")
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err := os.WriteFile(hosts, data, 0o644); err != nil {
			return err
		}
		if err := etchosts.Add(hosts, r.ExtraHosts); err != nil {
			return err
		}
	} else {
		own := []etchosts.Record{}
		for _, e := range r.Endpoints {
			own = append(own, hostsRecord(r.Hostname, e.IP))
		}
		if err := etchosts.Build(hosts, append(r.ExtraHosts, own...)); err != nil {
			return err
		}
	}
	if len(req.DNS) > 0 || len(req.DNSSearch) > 0 || len(req.DNSOptions) > 0 {
		host, err := resolvconf.Get()
		var content []byte
		if err == nil {
			content = host.Content
		}
		dns, search, options := req.DNS, req.DNSSearch, req.DNSOptions
		if len(dns) == 0 {
			dns = resolvconf.GetNameservers(content, resolvconf.IP)
		}
		if len(search) == 0 {
			search = resolvconf.GetSearchDomains(content)
		}
		if len(options) == 0 {
			options = resolvconf.GetOptions(content)
		}
		_, err = resolvconf.Build(resolv, dns, search, options)
		return err
	}
	host, err := resolvconf.Get()
	if err != nil {
		return fmt.Errorf("read the host's resolv.conf: %w", err)
	}
	content := host.Content
	if r.Mode != "host" {
		filtered, err := resolvconf.FilterResolvDNS(host.Content, false)
		if err != nil {
			return err
		}
		content = filtered.Content
	}
	return os.WriteFile(resolv, content, 0o644)
}

// teardown undoes a setup, as far as it went: CNI DEL of every endpoint,
// the hosts entries of its peers, the namespace, the files, the record. A
// failed DEL keeps the record (and namespace), so that it can be retried.
func (n *Networks) teardown(ctx context.Context, r *record) error {
	var errs []error
	if r.Mode != "container" {
		for i := range r.Endpoints {
			e := &r.Endpoints[i]
			errs = append(errs, n.withdraw(r, e, false))
			if err := n.detach(ctx, r, e); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		if r.NetNS != "" {
			// loopback's DEL too: libcni keeps each ADD's result until its DEL.
			if lo, err := loopback(); err == nil {
				_ = lo.Remove(ctx, r.ID, r.NetNS)
			}
			if err := netns.LoadNetNS(r.NetNS).Remove(); err != nil {
				return fmt.Errorf("remove network namespace: %w", err)
			}
		}
		if r.Files != "" {
			if err := os.RemoveAll(r.Files); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(n.recordPath(r.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// Teardown undoes container id's setup; nothing to do is no error.
func (n *Networks) Teardown(ctx context.Context, id string) error {
	if err := identifiers.Validate(id); err != nil {
		return errdefs.InvalidParameter(err)
	}
	return n.locked(func() error {
		r, err := n.loadRecord(id)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return n.teardown(ctx, r)
	})
}

// Has reports whether container id has a setup.
func (n *Networks) Has(id string) bool {
	_, err := os.Stat(n.recordPath(id))
	return err == nil
}

// IDs are the containers with a setup.
func (n *Networks) IDs() (ids []string, err error) {
	err = n.locked(func() error {
		records, err := n.records()
		for _, r := range records {
			ids = append(ids, r.ID)
		}
		return err
	})
	sort.Strings(ids)
	return ids, err
}

// RemoveOrphanNamespaces removes namespaces under the state that no record
// names (a crash between making one and recording it).
func (n *Networks) RemoveOrphanNamespaces() error {
	return n.locked(func() error {
		records, err := n.records()
		if err != nil {
			return err
		}
		named := map[string]bool{}
		for _, r := range records {
			named[r.NetNS] = true
		}
		entries, err := os.ReadDir(n.path("netns"))
		if err != nil {
			return err
		}
		var errs []error
		for _, e := range entries {
			if p := n.path("netns", e.Name()); !named[p] {
				errs = append(errs, netns.LoadNetNS(p).Remove())
			}
		}
		return errors.Join(errs...)
	})
}

// Endpoints are container id's attachments (NotFound without a setup).
func (n *Networks) Endpoints(id string) (out []Endpoint, err error) {
	if err := identifiers.Validate(id); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	err = n.locked(func() error {
		r, err := n.loadRecord(id)
		if errors.Is(err, os.ErrNotExist) {
			return errdefs.NotFound(fmt.Errorf("container %s has no network set up by pylibctrd", id))
		}
		if err != nil {
			return err
		}
		if r.Mode == "container" {
			if o, err := n.loadRecord(r.Owner); err == nil {
				r = o
			}
		}
		out = r.Endpoints
		return nil
	})
	return out, err
}

// Connect attaches a container set up with a namespace of its own to one
// more network.
func (n *Networks) Connect(ctx context.Context, id, network string, portSpecs, aliases []string, ip string) (ep *Endpoint, err error) {
	if err := identifiers.Validate(id); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	if err := CheckNetworkName(network); err != nil {
		return nil, err
	}
	ports, err := ParsePorts(portSpecs)
	if err != nil {
		return nil, err
	}
	err = n.locked(func() error {
		r, err := n.loadRecord(id)
		if errors.Is(err, os.ErrNotExist) {
			return errdefs.InvalidParameter(fmt.Errorf("container %s has no network namespace of pylibctrd's: create it with a network", id))
		}
		if err != nil {
			return err
		}
		if r.Mode != "cni" && r.Mode != "none" {
			return errdefs.InvalidParameter(fmt.Errorf("container %s shares a network namespace (mode %s): it cannot be connected", id, r.Mode))
		}
		nw, err := n.load(network)
		if errdefs.IsNotFound(err) && network == DefaultNetwork {
			nw, err = n.create(NetworkOptions{Name: DefaultNetwork})
		}
		if err != nil {
			return err
		}
		if r.endpoint(network) != nil {
			return errdefs.Conflict(fmt.Errorf("endpoint with name %s already exists in network %s", id, network))
		}
		if err := n.checkPorts(ports); err != nil {
			return err
		}
		used := map[string]bool{}
		for _, e := range r.Endpoints {
			used[e.Interface] = true
		}
		slot := 0
		for used[ifaceFor(slot)] {
			slot++
		}
		e, err := n.attach(ctx, r, nw, ifaceFor(slot), ports, aliases, ip)
		if err != nil {
			return err
		}
		r.Endpoints = append(r.Endpoints, *e)
		if err := writeJSON(n.recordPath(id), r); err != nil {
			return err
		}
		if err := etchosts.Add(r.hostsPath(), []etchosts.Record{hostsRecord(r.Hostname, e.IP)}); err != nil {
			return err
		}
		ep = e
		return n.announce(r, e)
	})
	return ep, err
}

// Disconnect detaches a container from a network.
func (n *Networks) Disconnect(ctx context.Context, id, network string) error {
	if err := identifiers.Validate(id); err != nil {
		return errdefs.InvalidParameter(err)
	}
	if err := CheckNetworkName(network); err != nil {
		return err
	}
	return n.locked(func() error {
		r, err := n.loadRecord(id)
		if errors.Is(err, os.ErrNotExist) {
			return errdefs.NotFound(fmt.Errorf("container %s is not connected to network %s", id, network))
		}
		if err != nil {
			return err
		}
		e := r.endpoint(network)
		if e == nil {
			if _, err := n.load(network); err != nil {
				return err
			}
			return errdefs.NotFound(fmt.Errorf("container %s is not connected to network %s", id, network))
		}
		if err := n.withdraw(r, e, true); err != nil {
			return err
		}
		if err := etchosts.Delete(r.hostsPath(), []etchosts.Record{hostsRecord(r.Hostname, e.IP)}); err != nil {
			return err
		}
		if err := n.detach(ctx, r, e); err != nil {
			return err
		}
		kept := r.Endpoints[:0]
		for _, other := range r.Endpoints {
			if other.Network != network {
				kept = append(kept, other)
			}
		}
		r.Endpoints = kept
		return writeJSON(n.recordPath(id), r)
	})
}

// ApplyNetwork puts a setup into a spec as dockerd does: the network
// namespace's path (none for the host's), the hostname, and the files
// bind-mounted at /etc/hostname, /etc/hosts and /etc/resolv.conf.
func ApplyNetwork(spec *specs.Spec, s *NetworkSetup) {
	var nss []specs.LinuxNamespace
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type != specs.NetworkNamespace {
			nss = append(nss, ns)
		}
	}
	if s.NetNS != "" {
		nss = append(nss, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: s.NetNS})
	}
	spec.Linux.Namespaces = nss
	if s.Hostname != "" {
		spec.Hostname = s.Hostname
	}
	if s.Files == "" {
		return
	}
	files := map[string]string{"/etc/hostname": "hostname", "/etc/hosts": "hosts", "/etc/resolv.conf": "resolv.conf"}
	var mounts []specs.Mount
	for _, m := range spec.Mounts {
		if _, ours := files[m.Destination]; !ours {
			mounts = append(mounts, m)
		}
	}
	for _, dst := range []string{"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"} {
		mounts = append(mounts, specs.Mount{Destination: dst, Type: "bind", Source: s.Files + "/" + files[dst], Options: []string{"rbind", "rprivate"}})
	}
	spec.Mounts = mounts
}
