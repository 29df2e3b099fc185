//go:build v28

// Package netns is github.com/containerd/containerd/v2/pkg/netns
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package netns

import c8d "github.com/containerd/containerd/v2/pkg/netns"

type (
	NetNS = c8d.NetNS
)

var (
	NewNetNS  = c8d.NewNetNS
	LoadNetNS = c8d.LoadNetNS
)
