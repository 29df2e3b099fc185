//go:build !v28

// Package leases is github.com/containerd/containerd/leases
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package leases

import c8d "github.com/containerd/containerd/leases"

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
