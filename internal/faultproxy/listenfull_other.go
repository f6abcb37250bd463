//go:build !linux

package faultproxy

import "errors"

// FullListener is a loopback listener whose accept queue is full; only Linux has one.
type FullListener struct{}

// ListenFull fails: filling an accept queue so that connecting times out is done on Linux only.
func ListenFull() (*FullListener, error) {
	return nil, errors.New("faultproxy: ListenFull needs Linux")
}

// Addr is empty.
func (fl *FullListener) Addr() string { return "" }

// Close does nothing.
func (fl *FullListener) Close() error { return nil }
