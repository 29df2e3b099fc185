//go:build !v28

// Package errors is github.com/containerd/containerd/remotes/errors
// (containerd v1.7 (Moby v26.1.5), the default flavour) under a flavour-free path:
// aliases only (package c8d says why).
package errors

import c8d "github.com/containerd/containerd/remotes/errors"

type (
	ErrUnexpectedStatus = c8d.ErrUnexpectedStatus
)
