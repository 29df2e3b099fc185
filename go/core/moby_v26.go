//go:build !v28

package core

// The Moby v26.1.5 side of the few core calls whose Go signatures changed in
// Moby v28 (moby_v28.go); package internal/moby holds the image service's.

import (
	"context"

	"github.com/docker/docker/daemon/logger"
	"github.com/docker/docker/libnetwork/etchosts"
	"github.com/docker/docker/libnetwork/netutils"
)

// readLogs is the log driver's ReadLogs.
func readLogs(_ context.Context, r logger.LogReader, cfg logger.ReadConfig) *logger.LogWatcher {
	return r.ReadLogs(cfg)
}

// hostsRecord is an /etc/hosts line for etchosts (ip: a valid address).
func hostsRecord(hosts, ip string) etchosts.Record {
	return etchosts.Record{Hosts: hosts, IP: ip}
}

// libnetwork's subnet helpers.
var (
	networkOverlaps      = netutils.NetworkOverlaps
	checkRouteOverlaps   = netutils.CheckRouteOverlaps
	findAvailableNetwork = netutils.FindAvailableNetwork
	networkRange         = netutils.NetworkRange
)
