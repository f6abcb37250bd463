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
	r := &rawReader{rc: rc}
	r.call = r.readFD
	return &pollingConn{Conn: c, d: d, expect: expect, poll: r.poll}
}

// rawReader makes one non-blocking read of a socket. Its callback is made once per connection,
// so that a poll allocates nothing.
type rawReader struct {
	rc   syscall.RawConn
	buf  []byte
	n    int
	err  error
	call func(fd uintptr) bool
}

// poll reads into b once, without waiting; again reports that nothing was there to read.
func (r *rawReader) poll(b []byte) (n int, again bool, err error) {
	r.buf, r.n, r.err = b, 0, nil
	cerr := r.rc.Read(r.call)
	n, err = r.n, r.err
	r.buf, r.err = nil, nil
	if cerr != nil {
		return 0, false, cerr
	}
	if n < 0 {
		n = 0
	}
	if errors.Is(err, syscall.EAGAIN) {
		return n, true, err
	}
	if err != nil {
		err = os.NewSyscallError("read", err) // as net.Conn's Read reports it
	}
	return n, false, err
}

// readFD is the RawConn callback: one try, never waiting in the network poller.
func (r *rawReader) readFD(fd uintptr) bool {
	r.n, r.err = sysRead(fd, r.buf)
	return true
}
