package actors

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

// connType is brpc's connection type: how a socket actor maps attempts to connections.
type connType uint8

const (
	// connSingle multiplexes every attempt on one connection, combining writes.
	connSingle connType = iota
	// connPooled gives each attempt a connection of its own, taken from a pool and returned to it
	// once the answer came.
	connPooled
	// connShort dials a connection for each attempt and closes it once the answer came.
	connShort
)

var connTypeNames = [...]string{"single", "pooled", "short"}

func (t connType) String() string { return connTypeNames[t] }

// parseConnType reads ChannelOptions.ConnectionType, case-insensitively; "" is single.
func parseConnType(s string) (connType, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return connSingle, nil
	}
	for i, n := range connTypeNames {
		if s == n {
			return connType(i), nil
		}
	}
	return 0, fmt.Errorf("unknown connection type (known: %s)", strings.Join(connTypeNames[:], ", "))
}

// sconn is one connection of a socket actor, from the moment it is dialled until it is closed.
// Its id names it in the messages of the goroutines that dial, read and write it.
type sconn struct {
	id      int64
	conn    net.Conn // nil while dialling
	local   *string
	out     []byte // frames not yet written
	spare   []byte
	writing bool   // a backlog goroutine is writing
	cred    []byte // the credential still to put in the first frame written; nil once sent
	nbw     *nonBlockingWriter
	at      int64 // pooled and short: the attempt it carries, 0 when none
	idleAt  time.Time
}

// flushConn writes the connection's queued frames: directly when the socket can take them
// without blocking, and the rest from a goroutine, so that the actor itself never blocks.
func (a *socketActor) flushConn(c *sconn) {
	if c.conn == nil || c.writing || len(c.out) == 0 {
		return
	}
	if c.cred != nil {
		if err := a.signFirst(c); err != nil {
			a.connBroken(c, err)
			return
		}
	}
	n, err := c.nbw.write(c.out)
	a.sk.writes.Add(1)
	if err != nil {
		a.connBroken(c, err)
		return
	}
	if n == len(c.out) {
		c.out = c.out[:0]
		return
	}
	a.writeBacklog(c, n)
}

// nonBlockingWriter writes as much as the kernel accepts at once, without waiting. Its callback
// is made once per connection, so that a write allocates nothing.
type nonBlockingWriter struct {
	raw  syscall.RawConn
	buf  []byte
	n    int
	err  error
	call func(fd uintptr) bool
}

func newNonBlockingWriter(raw syscall.RawConn) *nonBlockingWriter {
	w := &nonBlockingWriter{raw: raw}
	w.call = w.writeFD
	return w
}

// write writes a prefix of b and returns its length.
func (w *nonBlockingWriter) write(b []byte) (int, error) {
	w.buf, w.n, w.err = b, 0, nil
	err := w.raw.Write(w.call)
	n, werr := w.n, w.err
	w.buf, w.err = nil, nil
	if werr == nil {
		werr = err
	}
	return n, werr
}

// writeFD is the RawConn callback: it always reports done, so it never waits for the socket.
func (w *nonBlockingWriter) writeFD(fd uintptr) bool {
	for w.n < len(w.buf) {
		m, err := syscall.Write(int(fd), w.buf[w.n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			w.err = err
			return true
		}
		w.n += m
	}
	return true
}

// writeBacklog hands c.out[n:] to a goroutine that writes it blocking; frames queued meanwhile
// wait for it and leave together.
func (a *socketActor) writeBacklog(c *sconn, n int) {
	backlog := c.out[n:]
	c.out, c.spare = c.spare[:0], c.out
	c.writing = true
	id, conn, sk, self := c.id, c.conn, a.sk, a.self
	sk.sys.goroutine(func() {
		_, err := conn.Write(backlog)
		sk.post(self, &backlogWritten{id: id, err: err})
	})
}

func (a *socketActor) onBacklogWritten(m *backlogWritten) {
	c := a.conns[m.id]
	if c == nil {
		return
	}
	c.writing = false
	if m.err != nil {
		a.connBroken(c, m.err)
		return
	}
	a.flushConn(c)
}

// signFirst puts the connection's credential into the first frame it writes. Callers encode
// frames before they reach the socket, so the frame is decoded and encoded again: once per
// connection, off the path every other frame takes.
func (a *socketActor) signFirst(c *sconn) error {
	h, err := wire.ParseHeader(c.out)
	if err != nil {
		return err
	}
	end := wire.HeaderSize + int(h.BodySize)
	var m wire.Meta
	if err := wire.DecodeMeta(c.out[wire.HeaderSize:wire.HeaderSize+int(h.MetaSize)], &m); err != nil {
		return err
	}
	body := c.out[wire.HeaderSize+int(h.MetaSize) : end]
	split := len(body) - int(m.AttachmentSize)
	if m.AttachmentSize < 0 || split < 0 {
		return wire.Errorf(wire.EREQUEST, fmt.Sprintf("bad attachment_size %d in a request frame", m.AttachmentSize))
	}
	m.AuthenticationData = c.cred
	signed := wire.AppendFrame(make([]byte, 0, len(c.out)+len(c.cred)+8), &m, body[:split], body[split:])
	c.out = append(signed, c.out[end:]...)
	c.cred = nil
	return nil
}
