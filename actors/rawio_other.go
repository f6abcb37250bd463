//go:build !linux

package actors

import "net"

// rawConn returns c: sockets are read and written the usual way outside Linux.
func rawConn(c net.Conn) net.Conn { return c }
