package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// RawClient is a TCP connection that writes whatever a test gives it and reads baidu_std frames
// back.
type RawClient struct {
	conn net.Conn
	r    *wire.Reader
}

// Dial connects a RawClient to addr.
func Dial(addr string) (*RawClient, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &RawClient{conn: c, r: wire.NewReader(bufio.NewReader(c), 0)}, nil
}

// Conn is the client's connection.
func (c *RawClient) Conn() net.Conn { return c.conn }

// Write writes b.
func (c *RawClient) Write(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

// ReadFrame reads the next frame, waiting at most timeout.
func (c *RawClient) ReadFrame(timeout time.Duration) (*wire.Frame, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	f := new(wire.Frame)
	if err := c.r.ReadFrame(f); err != nil {
		return nil, err
	}
	return f, nil
}

// WaitClosed reads and discards until the server closes the connection, waiting at most timeout.
// It returns nil when the connection ended (a reset included) and an error when the timeout
// passed first.
func (c *RawClient) WaitClosed(timeout time.Duration) error {
	if err := c.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, c.conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return nil
}

// Close closes the connection normally.
func (c *RawClient) Close() error { return c.conn.Close() }

// Reset closes the connection with a reset (RST).
func (c *RawClient) Reset() error {
	setLinger0(c.conn)
	return c.conn.Close()
}
