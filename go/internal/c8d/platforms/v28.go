//go:build v28

// Package platforms is github.com/containerd/platforms
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package platforms

import c8d "github.com/containerd/platforms"

type (
	MatchComparer = c8d.MatchComparer
	Matcher       = c8d.Matcher
)

var (
	Default = c8d.Default
	Only    = c8d.Only
	Parse   = c8d.Parse
)
