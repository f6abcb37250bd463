//go:build !linux

package actors

import "net"

// deafListenConfig is the default: only Linux's receive buffer is made small.
func deafListenConfig() net.ListenConfig { return net.ListenConfig{} }
