package actors

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawConn returns a plain TCP connection read and written with sysRead and sysWrite; any other
// connection, one that rawConn made included, it returns as it is. Go's network poller still
// parks a read that finds nothing and a write that finds the socket full, and deadlines and
// Close work as on c itself.
func rawConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawIOConn{Conn: c, rc: rc}
	r.r.call, r.w.call, r.p.call = r.readFD, r.writeFD, r.pollFD
	return r
}

// rawIOConn is a connection made by rawConn. One goroutine may read while another writes.
type rawIOConn struct {
	net.Conn
	rc      syscall.RawConn
	r, w, p rawOp // a read, a write, a poll (a read that never waits)
}

// rawOp is the state of a read, a write or a poll in progress; its callback is made once per
// connection, so that an operation allocates nothing.
type rawOp struct {
	buf  []byte
	n    int
	err  error
	call func(fd uintptr) bool
}

func (c *rawIOConn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.r.start(b)
	n, err := c.r.end(c.rc.Read(c.r.call))
	if err != nil {
		return 0, c.opError("read", err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawIOConn) Write(b []byte) (int, error) {
	c.w.start(b)
	n, err := c.w.end(c.rc.Write(c.w.call))
	if err != nil {
		return n, c.opError("write", err)
	}
	return n, nil
}

// start begins an operation over b.
func (op *rawOp) start(b []byte) { op.buf, op.n, op.err = b, 0, nil }

// end ends the operation the RawConn ran, which reported err (the network poller's), and
// returns the bytes moved and the error, the poller's or the system call's.
func (op *rawOp) end(err error) (int, error) {
	n := op.n
	if err == nil {
		err = op.err
	}
	op.buf, op.err = nil, nil
	return n, err
}

// readFD reads once; it reports false, to wait, when nothing was there to read.
func (c *rawIOConn) readFD(fd uintptr) bool {
	for {
		n, err := sysRead(fd, c.r.buf)
		switch err {
		case nil:
			c.r.n = n
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		c.r.err = os.NewSyscallError("read", err)
		return true
	}
}

// poll reads into b once, without waiting in the network poller; again reports that nothing
// was there to read. n is 0 with no error at the end of the stream.
func (c *rawIOConn) poll(b []byte) (n int, again bool, err error) {
	c.p.start(b)
	n, err = c.p.end(c.rc.Read(c.p.call))
	return n, err == syscall.EAGAIN, err
}

// pollFD reads once, whatever it finds (retrying only a read a signal interrupted, as readFD
// does).
func (c *rawIOConn) pollFD(fd uintptr) bool {
	n, err := sysRead(fd, c.p.buf)
	for err == syscall.EINTR {
		n, err = sysRead(fd, c.p.buf)
	}
	c.p.n, c.p.err = n, err
	if err != nil && err != syscall.EAGAIN {
		c.p.err = os.NewSyscallError("read", err) // as net.Conn's Read reports it
	}
	return true
}

// writeFD writes until all of the buffer is written; it reports false, to wait, when the
// socket is full.
func (c *rawIOConn) writeFD(fd uintptr) bool {
	for c.w.n < len(c.w.buf) {
		n, err := sysWrite(fd, c.w.buf[c.w.n:])
		switch err {
		case nil:
			c.w.n += n
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.w.err = os.NewSyscallError("write", err)
			return true
		}
	}
	return true
}

// opError reports err as the connection's own Read or Write would: a *net.OpError named op,
// whether the network poller failed (a deadline, a closed connection) or the system call did.
func (c *rawIOConn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		e := *oe
		e.Op = op
		return &e
	}
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Unwrap returns the connection itself, for vectored writes (vectorWriter).
func (c *rawIOConn) Unwrap() net.Conn { return c.Conn }
