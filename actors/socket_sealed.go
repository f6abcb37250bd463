package actors

import (
	"crypto/tls"
	"net"
	"sync"
	"syscall"
)

// TLS without a writer goroutine. crypto/tls encrypts and writes in one blocking call, which
// the socket actor must never make. So the TLS client connection is layered over a sealedConn:
// once the handshake is done, what tls.Conn writes to it is kept in memory rather than sent.
// The actor then encrypts its queued frames with tls.Conn.Write (memory only: it cannot block),
// takes the records and writes them to the socket without blocking, as it writes a plain
// connection's frames; a goroutine finishes only what the kernel did not take at once. Records
// that crypto/tls writes by itself on the reading goroutine (a key update it answers, an alert)
// are kept the same way, and the actor is told to send them.

// maxSpareSealed is the capacity beyond which a record buffer is not kept for the next flush.
const maxSpareSealed = 1 << 20

// sealedConn is the connection under a client tls.Conn.
type sealedConn struct {
	net.Conn

	mu       sync.Mutex
	capture  bool   // after the handshake: records are kept in buf, not written
	sealing  bool   // the actor is encrypting: what is written now is taken with its frames
	notified bool   // the actor was told of records written outside a flush
	buf      []byte // records to write, in order
	spare    []byte // the other buffer, empty
	notify   func() // tells the actor of records written outside a flush
}

// Write keeps b once capturing, and writes it to the connection before.
func (s *sealedConn) Write(b []byte) (int, error) {
	s.mu.Lock()
	if !s.capture {
		s.mu.Unlock()
		return s.Conn.Write(b)
	}
	s.buf = append(s.buf, b...)
	tell := !s.sealing && !s.notified && s.notify != nil
	if tell {
		s.notified = true
	}
	s.mu.Unlock()
	if tell {
		s.notify()
	}
	return len(b), nil
}

// startCapture makes later writes be kept for the actor; notify is called, at most once until
// the actor next takes the records, when crypto/tls writes outside a flush.
func (s *sealedConn) startCapture(notify func()) {
	s.mu.Lock()
	s.capture, s.notify = true, notify
	s.mu.Unlock()
}

// seal encrypts plain into records through tc, which writes them to s.
func (s *sealedConn) seal(tc *tls.Conn, plain []byte) error {
	s.mu.Lock()
	s.sealing = true
	s.mu.Unlock()
	_, err := tc.Write(plain)
	s.mu.Lock()
	s.sealing = false
	s.mu.Unlock()
	return err
}

// take returns the records kept so far and starts a new buffer; the caller gives the returned
// one back with recycle once it is written.
func (s *sealedConn) take() []byte {
	s.mu.Lock()
	b := s.buf
	s.buf, s.spare, s.notified = s.spare, nil, false
	s.mu.Unlock()
	return b
}

// pending reports whether records wait to be taken.
func (s *sealedConn) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.buf) > 0
}

// recycle keeps b, written, for a later take.
func (s *sealedConn) recycle(b []byte) {
	if cap(b) > maxSpareSealed {
		return
	}
	s.mu.Lock()
	if s.spare == nil {
		s.spare = b[:0]
	}
	s.mu.Unlock()
}

// sealedPending tells the socket actor that crypto/tls wrote records outside a flush.
type sealedPending struct{ id int64 }

func (*sealedPending) IgnoreDeadLetterLogging() {}

// writeMode sets how c's connection is written: by the actor without blocking when it is a
// socket, or a TLS client connection over one; by a goroutine otherwise (a Dialer's own
// connection, such as an in-memory pipe).
func (a *socketActor) writeMode(c *sconn, conn net.Conn) error {
	if !nonBlockingWrites {
		return nil
	}
	target := conn
	var seal *sealedConn
	if tc, ok := conn.(*tls.Conn); ok {
		if seal, ok = tc.NetConn().(*sealedConn); !ok {
			return nil
		}
		target = seal.Conn
		c.tc = tc
	}
	sc, ok := target.(syscall.Conn)
	if !ok {
		c.tc = nil
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		c.tc = nil
		return err
	}
	c.nbw = newNonBlockingWriter(raw)
	if seal != nil {
		c.seal = seal
		id, sk, self := c.id, a.sk, a.self
		seal.startCapture(func() { sk.post(self, &sealedPending{id: id}) })
	}
	return nil
}

// onSealedPending sends the records crypto/tls wrote by itself, unless a write is under way:
// they then leave with the next flush.
func (a *socketActor) onSealedPending(m *sealedPending) {
	if c := a.conns[m.id]; c != nil && c.seal != nil {
		a.flushConn(c)
	}
}

// flushSealed encrypts the queued frames of a TLS connection, up to a backlog chunk at a time,
// and writes the records without blocking; a goroutine writes what the socket does not take.
func (a *socketActor) flushSealed(c *sconn) {
	for {
		if c.head < len(c.out) {
			cut := c.backlogCut()
			if err := c.seal.seal(c.tc, c.out[c.head:cut]); err != nil {
				a.connBroken(c, err)
				return
			}
			c.head, c.frameAt = cut, cut
		}
		rec := c.seal.take()
		if len(rec) == 0 {
			return
		}
		n, err := c.nbw.write(rec)
		a.sk.writes.Add(1)
		if err != nil {
			a.connBroken(c, err)
			return
		}
		if n < len(rec) {
			a.writeSealedBacklog(c, rec, n)
			return
		}
		c.seal.recycle(rec)
		if c.head == len(c.out) {
			c.emptied()
			if !c.promote() {
				return
			}
		}
	}
}

// writeSealedBacklog hands a goroutine the records from rec[n:] on to write blocking; frames
// queued meanwhile wait for it.
func (a *socketActor) writeSealedBacklog(c *sconn, rec []byte, n int) {
	c.writing, c.handed, c.records = true, len(rec)-n, rec
	id, conn, sk, self, rest := c.id, c.seal.Conn, a.sk, a.self, rec[n:]
	sk.sys.goroutine(func() {
		_, err := conn.Write(rest)
		sk.post(self, &backlogWritten{id: id, err: err})
	})
}
