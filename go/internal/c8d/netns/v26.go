//go:build !v28

// Package netns is github.com/containerd/containerd/pkg/netns
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package netns

import c8d "github.com/containerd/containerd/pkg/netns"

type (
	NetNS = c8d.NetNS
)

var (
	NewNetNS  = c8d.NewNetNS
	LoadNetNS = c8d.LoadNetNS
)
