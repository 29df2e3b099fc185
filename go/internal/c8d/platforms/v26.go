//go:build !v28

// Package platforms is github.com/containerd/containerd/platforms
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package platforms

import c8d "github.com/containerd/containerd/platforms"

type (
	MatchComparer = c8d.MatchComparer
	Matcher       = c8d.Matcher
)

var (
	Default = c8d.Default
	Only    = c8d.Only
	Parse   = c8d.Parse
)
