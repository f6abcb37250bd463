package actors

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// pollReads returns c with a reader that polls for up to d while expect reports data due
// soon; c itself when d is 0 or c is no socket.
func pollReads(c net.Conn, d time.Duration, expect func() bool) net.Conn {
	sc, ok := c.(syscall.Conn)
	if d <= 0 || !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &pollingConn{Conn: c, d: d, expect: expect, poll: func(b []byte) (int, bool, error) {
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, rerr = syscall.Read(int(fd), b)
			return true // one try: never wait in the network poller here
		}); err != nil {
			return 0, false, err
		}
		if n < 0 {
			n = 0
		}
		if rerr != nil && !errors.Is(rerr, syscall.EAGAIN) {
			rerr = os.NewSyscallError("read", rerr) // as net.Conn's Read reports it
		}
		return n, errors.Is(rerr, syscall.EAGAIN), rerr
	}}
}
