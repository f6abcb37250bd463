package actors

import (
	"net"
	"time"
)

// pollReads returns c with a reader that polls for up to d while expect reports data due
// soon; c itself when d is 0 or c is no TCP connection. The reader reads with raw system calls
// (rawConn).
func pollReads(c net.Conn, d time.Duration, expect func() bool) net.Conn {
	if d <= 0 {
		return c
	}
	r, ok := rawConn(c).(*rawIOConn)
	if !ok {
		return c
	}
	return &pollingConn{Conn: r, d: d, expect: expect, poll: r.poll}
}
