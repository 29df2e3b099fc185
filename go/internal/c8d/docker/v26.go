//go:build !v28

// Package docker is github.com/containerd/containerd/remotes/docker
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package docker

import c8d "github.com/containerd/containerd/remotes/docker"

type (
	RegistryHost  = c8d.RegistryHost
	RegistryHosts = c8d.RegistryHosts
)

var (
	ErrInvalidAuthorization = c8d.ErrInvalidAuthorization
)
