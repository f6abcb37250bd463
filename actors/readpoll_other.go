//go:build !linux

package actors

import (
	"net"
	"time"
)

// pollReads returns c: readers poll on Linux only.
func pollReads(c net.Conn, _ time.Duration, _ func() bool) net.Conn { return c }
