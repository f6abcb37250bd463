package actors

import (
	"fmt"

	"github.com/troupe-rpc/troupe/wire"
)

// Write limits of a connection, after brpc's -socket_max_unwritten_bytes.
//
// A connection's frames wait in sconn.out until written; a large frame that finds the queue not
// yet written waits in its own buffer in sconn.later, with the frames after it, until the queue
// drained, and then becomes the queue, so that it is never copied. The actor writes what the
// socket takes without blocking and hands the rest of an unfinished frame, with the queued frames
// after it up to backlogChunk, to a goroutine that writes them blocking. Everything else stays
// queued (in out or later), so
// that the frames of calls that end before their turn (a timeout, a cancel) can be dropped: a
// call that gives up an attempt marks the connection stale, and the queue is swept of frames
// nobody waits for before the next write and before an attempt is refused. A frame that would
// take the unwritten bytes of a connection past the bound is refused with EOVERCROWDED; a
// connection with nothing unwritten takes one frame whatever its size.

// backlogChunk bounds what a backlog goroutine is given beyond the frame it must finish: the
// bytes that can no longer be dropped.
const backlogChunk = 256 << 10

// maxCopiedBacklog bounds the backlog a goroutine is given as a copy rather than as a part of
// the connection's buffer: a larger one is the rest of a large frame, which is not copied.
const maxCopiedBacklog = maxPooledBuf

// maxIdleOut is the capacity beyond which a write buffer whose frames were mostly dropped is
// replaced by a smaller one, so that a burst does not keep its memory while the rest is written.
// (An emptied buffer over maxPooledBuf goes back to the pool at once: see emptied.)
const maxIdleOut = 4 << 20

// unwritten is the number of bytes of c not yet written: queued, or with the backlog goroutine.
func (c *sconn) unwritten() int { return len(c.out) - c.head + c.handed + c.laterN }

// promote moves the frames waiting in later into the drained queue: a large one becomes the
// queue, and the small ones after it are copied behind it, up to the next large one. It reports
// whether it moved any. It is called once everything in out was written.
func (c *sconn) promote() bool {
	moved := 0
	for _, f := range c.later {
		n := len(f.b)
		if n > maxPooledBuf && len(c.out) > 0 {
			break
		}
		if n > maxPooledBuf && cap(f.b) > cap(c.out) {
			c.out, f.b = f.b, c.out[:0]
		} else {
			c.out = append(c.out, f.b...)
		}
		putBuf(f)
		c.laterN -= n
		moved++
	}
	if moved == 0 {
		return false
	}
	clear(c.later[:moved])
	c.later = c.later[moved:]
	if len(c.later) == 0 {
		c.later = nil
	}
	return true
}

// dropLater returns the buffers of the frames waiting in later to the pool, for a connection
// that closed.
func (c *sconn) dropLater() {
	for _, f := range c.later {
		putBuf(f)
	}
	c.later, c.laterN = nil, 0
}

// emptied resets c's buffer once everything in it was written. A large one goes back to the
// large buffers' pool, so that an idle connection holds a small buffer only.
func (c *sconn) emptied() {
	if cap(c.out) > maxPooledBuf {
		putLarge(c.out)
		c.out = make([]byte, 0, initialOutSize)
	} else {
		c.out = c.out[:0]
	}
	c.head, c.frameAt = 0, 0
}

// compact drops the written bytes from the front of c's buffer once they are at least as many
// as the queued ones, so that moving the queue costs no more than writing it did.
func (c *sconn) compact() {
	switch q := len(c.out) - c.head; {
	case q == 0:
		c.emptied()
	case c.head >= q:
		c.out = c.out[:copy(c.out, c.out[c.head:])]
		c.head, c.frameAt = 0, 0
	}
}

// frameEnd returns where the frame that starts at p ends.
func (c *sconn) frameEnd(p int) int {
	h, err := wire.ParseHeader(c.out[p:])
	if err != nil { // not expected of frames encoded here: treat the rest as one
		return len(c.out)
	}
	return min(p+wire.HeaderSize+int(h.BodySize), len(c.out))
}

// backlogCut returns the end of what the backlog goroutine writes: the end of the frame that
// head is in, and whole frames after it while the chunk is under backlogChunk (at least one).
func (c *sconn) backlogCut() int {
	p := c.frameAt
	for p < c.head {
		p = c.frameEnd(p)
	}
	for p < len(c.out) && p-c.head < backlogChunk {
		p = c.frameEnd(p)
	}
	return p
}

// frameID returns the correlation id of an encoded request frame.
func frameID(b []byte) (int64, bool) {
	h, err := wire.ParseHeader(b)
	if err != nil || wire.HeaderSize+int(h.MetaSize) > len(b) {
		return 0, false
	}
	var m wire.Meta
	if wire.DecodeMeta(b[wire.HeaderSize:wire.HeaderSize+int(h.MetaSize)], &m) != nil {
		return 0, false
	}
	return m.CorrelationID, true
}

// dropEnded removes from c's queue the frames of attempts nobody waits for any more. Only the
// queue after head moves: the backlog goroutine reads before it.
func (a *socketActor) dropEnded(c *sconn) {
	c.stale = false
	w, dropped := c.head, int64(0)
	for p := c.head; p < len(c.out); {
		end := c.frameEnd(p)
		if id, ok := frameID(c.out[p:end]); !ok || a.sk.pending.has(id) {
			w += copy(c.out[w:], c.out[p:end])
		} else {
			dropped++
		}
		p = end
	}
	c.out = c.out[:w]
	kept := c.later[:0]
	for _, f := range c.later {
		if id, ok := frameID(f.b); !ok || a.sk.pending.has(id) {
			kept = append(kept, f)
			continue
		}
		c.laterN -= len(f.b)
		putBuf(f)
		dropped++
	}
	clear(c.later[len(kept):])
	c.later = kept
	a.sk.dropped.Add(dropped)
	if q := len(c.out) - c.head; cap(c.out) > maxIdleOut && q < cap(c.out)/4 {
		// Most of a large buffer was dropped: let it go. The backlog goroutine holds its own slice.
		c.out = append(make([]byte, 0, max(2*q, 64<<10)), c.out[c.head:]...)
		c.head, c.frameAt = 0, 0
	}
	a.publishUnwritten(c)
}

// admit reports whether connection c takes a frame of n more bytes under the socket's
// max_unwritten_bytes; when it does not, it fails the attempt with EOVERCROWDED, unless its call
// gave it up already. The frames of ended calls are dropped before an attempt is refused.
func (a *socketActor) admit(c *sconn, at *attempt, frame *frameBuf) bool {
	lim, n := a.maxUnwritten, len(frame.b)
	if lim < 0 || c.unwritten() == 0 || int64(c.unwritten()+n) <= lim {
		return true
	}
	if c.stale {
		a.dropEnded(c)
		if c.unwritten() == 0 || int64(c.unwritten()+n) <= lim {
			return true
		}
	}
	err := &wire.Error{Code: wire.EOVERCROWDED, Addr: a.sk.addr,
		Text: fmt.Sprintf("%d unwritten bytes exceed max_unwritten_bytes=%d on %s", c.unwritten()+n, lim, a.sk.addr)}
	if a.sk.pending.take(at.id) != nil {
		at.light().Send(&attemptFailed{id: at.id, err: err})
	}
	return false
}

// onAbandonedSingle notes that a call gave up an attempt on the single connection: its frame,
// if still queued, is dropped before the next write.
func (a *socketActor) onAbandonedSingle() {
	if a.single != nil && (len(a.single.out) > a.single.head || len(a.single.later) > 0) {
		a.single.stale = true
	}
}

// publishUnwritten shows the single connection's unwritten bytes in Inspect.
func (a *socketActor) publishUnwritten(c *sconn) {
	if c == a.single {
		a.sk.unwritten.Store(int64(c.unwritten()))
	}
}
