package actors

import (
	"crypto/tls"
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
	out     []byte      // frames: out[:head] written or with the backlog goroutine, the rest queued
	later   []*frameBuf // frames queued behind out in buffers of their own, from the first large one on
	laterN  int         // the bytes in later
	head    int         // always a frame boundary outside flushConn
	handed  int         // the bytes before head that the backlog goroutine is writing
	frameAt int         // a frame boundary at or before head, where a walk over the frames may start
	stale   bool        // a call gave up an attempt: queued frames may belong to ended calls
	spare   []byte      // the backlog goroutine's copy of what it writes
	writing bool        // a backlog goroutine is writing
	cred    []byte      // the credential still to put in the first frame written; nil once sent
	nbw     *nonBlockingWriter
	tc      *tls.Conn   // a TLS connection the actor encrypts for (socket_sealed.go); nil otherwise
	seal    *sealedConn // tc's records, for the actor to write
	records []byte      // the records a backlog goroutine is writing, to reuse once written
	at      int64       // pooled and short: the attempt it carries, 0 when none
	idleAt  time.Time
}

// flushConn writes the connection's queued frames: directly when the socket can take them
// without blocking, and the rest from a goroutine, so that the actor itself never blocks.
func (a *socketActor) flushConn(c *sconn) {
	if c.conn == nil || c.writing {
		return
	}
	if len(c.out) == c.head {
		c.emptied()
		c.promote()
		if len(c.out) == 0 && (c.seal == nil || !c.seal.pending()) {
			return
		}
	}
	if c.cred != nil && c.head < len(c.out) {
		if err := a.signFirst(c); err != nil {
			a.connBroken(c, err)
			return
		}
	}
	if c.seal != nil {
		a.flushSealed(c)
		return
	}
	if c.nbw == nil { // a Dialer's own connection: only a goroutine may block writing it
		a.sk.writes.Add(1)
		a.writeBacklog(c)
		return
	}
	for {
		n, err := c.nbw.write(c.out[c.head:])
		a.sk.writes.Add(1)
		if err != nil {
			a.connBroken(c, err)
			return
		}
		if c.head += n; c.head < len(c.out) {
			a.writeBacklog(c)
			return
		}
		c.emptied()
		if !c.promote() {
			return
		}
	}
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
		m, err := writeFD(fd, w.buf[w.n:])
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

// writeBacklog hands a goroutine the rest of the frame the last write left unfinished and the
// queued frames after it, up to backlogChunk, to write blocking; frames queued meanwhile wait for
// it. Frames beyond the chunk stay queued, so that those of calls that end meanwhile can still
// be dropped (socket_unwritten.go).
func (a *socketActor) writeBacklog(c *sconn) {
	cut := c.backlogCut()
	backlog := c.out[c.head:cut]
	if len(backlog) <= maxCopiedBacklog { // out may grow meanwhile: the goroutine keeps no old copy of it alive
		c.spare = append(c.spare[:0], backlog...)
		backlog = c.spare
	}
	c.handed, c.head, c.frameAt = cut-c.head, cut, cut
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
	c.writing, c.handed = false, 0
	if c.records != nil {
		c.seal.recycle(c.records)
		c.records = nil
	}
	if m.err != nil {
		a.connBroken(c, m.err)
		return
	}
	c.compact()
	a.flushConn(c)
	a.publishUnwritten(c)
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
