//go:build v28

package core

// The Moby v28.5.2 side of moby_v26.go.

import (
	"context"
	"errors"
	"net"
	"net/netip"

	"github.com/docker/docker/daemon/logger"
	"github.com/docker/docker/libnetwork/etchosts"
	"github.com/docker/docker/libnetwork/netutils"
)

// readLogs is the log driver's ReadLogs (which Moby v28 bounds by ctx).
func readLogs(ctx context.Context, r logger.LogReader, cfg logger.ReadConfig) *logger.LogWatcher {
	return r.ReadLogs(ctx, cfg)
}

// hostsRecord is an /etc/hosts line for etchosts (ip: a valid address; Moby
// v28's Record holds a netip.Addr, which marshals to the same JSON string).
func hostsRecord(hosts, ip string) etchosts.Record {
	addr, _ := netip.ParseAddr(ip)
	return etchosts.Record{Hosts: hosts, IP: addr}
}

// Moby v28 dropped libnetwork's net.IPNet subnet helpers (netutils'
// NetworkOverlaps, CheckRouteOverlaps, FindAvailableNetwork, NetworkRange):
// its IPAM compares netip.Prefixes and keeps clear of
// netutils.InferReservedNetworks (the host's nameservers and on-link routes).
// These are the same checks on that reservation list, with v26's messages.

var errNetworkOverlaps = errors.New("requested network overlaps with existing network")

func toPrefix(n *net.IPNet) netip.Prefix {
	addr, _ := netip.AddrFromSlice(n.IP)
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(addr.Unmap(), ones).Masked()
}

func networkOverlaps(x, y *net.IPNet) bool { return toPrefix(x).Overlaps(toPrefix(y)) }

func reservedOverlap(n *net.IPNet) bool {
	p := toPrefix(n)
	for _, r := range netutils.InferReservedNetworks(false) {
		if r.Overlaps(p) {
			return true
		}
	}
	return false
}

func checkRouteOverlaps(n *net.IPNet) error {
	if reservedOverlap(n) {
		return errNetworkOverlaps
	}
	return nil
}

func findAvailableNetwork(list []*net.IPNet) (*net.IPNet, error) {
	for _, n := range list {
		if !reservedOverlap(n) {
			return n, nil
		}
	}
	return nil, errors.New("no available network")
}

func networkRange(n *net.IPNet) (net.IP, net.IP) {
	first := n.IP.Mask(n.Mask)
	last := make(net.IP, len(first))
	for i := range first {
		last[i] = first[i] | ^n.Mask[i]
	}
	return first, last
}
