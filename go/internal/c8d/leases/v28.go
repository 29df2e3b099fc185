//go:build v28

// Package leases is github.com/containerd/containerd/v2/core/leases
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package leases

import c8d "github.com/containerd/containerd/v2/core/leases"

type (
	Lease     = c8d.Lease
	Opt       = c8d.Opt
	DeleteOpt = c8d.DeleteOpt
)

var (
	SynchronousDelete = c8d.SynchronousDelete
	WithExpiration    = c8d.WithExpiration
	WithLease         = c8d.WithLease
	WithRandomID      = c8d.WithRandomID
)
