//go:build v28

// Package plugin is github.com/containerd/containerd/v2/plugins
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package plugin

import c8d "github.com/containerd/containerd/v2/plugins"

const (
	RuntimeRuncV2 = c8d.RuntimeRuncV2
)
