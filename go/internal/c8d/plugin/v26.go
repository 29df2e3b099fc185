//go:build !v28

// Package plugin is github.com/containerd/containerd/plugin
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package plugin

import c8d "github.com/containerd/containerd/plugin"

const (
	RuntimeRuncV2 = c8d.RuntimeRuncV2
)
