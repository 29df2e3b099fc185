//go:build v28

// Package errors is github.com/containerd/containerd/v2/core/remotes/errors
// (containerd v2.1 (Moby v28.5.2), the v28 flavour) under a flavour-free path:
// aliases only (package c8d says why).
package errors

import c8d "github.com/containerd/containerd/v2/core/remotes/errors"

type (
	ErrUnexpectedStatus = c8d.ErrUnexpectedStatus
)
