//go:build v28

// Package docker is github.com/containerd/containerd/v2/core/remotes/docker
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package docker

import c8d "github.com/containerd/containerd/v2/core/remotes/docker"

type (
	RegistryHost  = c8d.RegistryHost
	RegistryHosts = c8d.RegistryHosts
)

var (
	ErrInvalidAuthorization = c8d.ErrInvalidAuthorization
)
