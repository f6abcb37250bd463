//go:build linux

package actors

import (
	"net"
	"syscall"
)

// deafListenConfig gives the sockets a deaf raw listener accepts a small receive buffer, set
// before listen so that it also bounds the window: a connection nobody reads then holds a few
// KiB in the kernel rather than megabytes, and the client's queue fills at once.
func deafListenConfig() net.ListenConfig {
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10)
		})
		if err != nil {
			return err
		}
		return serr
	}}
}
