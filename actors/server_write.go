package actors

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/troupe-rpc/troupe/wire"
)

// Back pressure on a connection. Its reader stops reading (after writing out the answers it
// holds) while either
//
//   - MaxConnectionRequests of the connection's requests are being handled, until one returns; or
//   - the connection is overcrowded, until its unwritten answers drain below half of
//     MaxUnwrittenBytes.
//
// The requests read so far still run and answer; nothing is read meanwhile, so a client that
// pipelines without end holds at most MaxConnectionRequests goroutines, and one that never reads
// its answers holds about MaxUnwrittenBytes of them.
//
// The exact rule for answers: the unwritten bytes are the answers appended to the connection's
// write buffer and not yet accepted by the kernel (the socket's own buffer comes on top), and
// the large answers waiting to be written from their own buffers (see writeVectored). An
// answer whose payload and attachment would take them past MaxUnwrittenBytes is replaced by an
// EOVERCROWDED error frame of about a hundred bytes, and the connection becomes overcrowded; so
// it does when an appended answer brings them to MaxUnwrittenBytes. An answer larger than
// MaxUnwrittenBytes still leaves when nothing else is unwritten, as in brpc, which refuses a
// write only when the bytes already unwritten are over the limit. Error frames are queued until
// the unwritten bytes reach MaxUnwrittenBytes plus a slack of 256 bytes per
// MaxConnectionRequests (256 KiB by default); past that, answers are dropped (their clients time
// out) and counted in the rate-limited warning. Once the connection is overcrowded, the requests
// that can still answer before its reader stops are at most MaxConnectionRequests, each error
// frame takes less than 256 bytes, so the slack is a safety net that a well-behaved server does
// not reach. What a connection holds is thus bounded by MaxUnwrittenBytes, plus its largest
// answer, plus the slack, in buffers whose capacity may exceed their contents by about a quarter
// (append's growth).

// overcrowdSlack is how far error frames may take a connection's unwritten bytes past
// MaxUnwrittenBytes before answers are dropped instead: errFrameRoom bytes per request that may
// be in a handler.
func overcrowdSlack(maxRequests int) int64 { return errFrameRoom * int64(maxRequests) }

// errFrameRoom is more than an EOVERCROWDED error frame takes.
const errFrameRoom = 256

// maxSpare is the largest written-out buffer a connection keeps for its next frames. A larger one
// is left to the collector, so that a connection that once had a large backlog does not hold two
// buffers of that size, nor start a new backlog in one.
const maxSpare = 1 << 20

// writeCombiner appends frames to a buffer under a lock; whoever finds no write in progress
// becomes the writer and keeps writing until the buffer is empty, so frames that pile up during a
// write leave together in the next one.
type writeCombiner struct {
	mu      sync.Mutex
	idle    sync.Cond // signalled when a writer finishes
	buf     []byte
	spare   []byte
	writing bool
	failed  bool
	w       io.Writer
	// others reports whether other requests are being handled, whose responses may join this
	// write if the writer yields first; nil means always yield.
	others func() bool

	// limit is MaxUnwrittenBytes (<= 0: none); outLen is the length of the write in progress.
	// crowded is set when the unwritten bytes reach limit or an answer was replaced, and
	// cleared once they drain below limit/2; the reader reads it without mu. written, if set,
	// is called after each write, without mu; overcrowded, if set, after an answer was replaced
	// or dropped (dropped true), with mu held.
	limit       int64
	slack       int64 // overcrowdSlack
	outLen      int
	waiting     int // the bytes of large answers waiting for the write in progress
	crowded     atomic.Bool
	written     func()
	io          *connIO // counts the bytes written, for Stats
	overcrowded func(unwritten int64, dropped bool)
}

func (wc *writeCombiner) write(meta *wire.Meta, payload, attachment []byte) {
	wc.mu.Lock()
	if wc.failed {
		wc.mu.Unlock()
		return
	}
	if n := len(payload) + len(attachment); n > maxPooledBuf && wc.fits(n) {
		// A large answer waits for the write in progress rather than be copied behind it: a
		// wake-up costs less than copying it. Its bytes count as unwritten meanwhile.
		if wc.writing {
			wc.waiting += n
			wc.markCrowded()
			for wc.writing && !wc.failed {
				wc.idle.Wait()
			}
			wc.waiting -= n
		}
		if wc.failed {
			wc.mu.Unlock()
			return
		}
		if wc.fits(n) {
			wc.writeVectored(meta, payload, attachment)
			return
		}
	}
	wc.add(meta, payload, attachment)
	wc.writeOut(true)
}

// unwritten returns the bytes of answers not yet accepted by the kernel: in the buffer, in the
// write in progress, and large ones waiting for it. It is called with wc.mu held.
func (wc *writeCombiner) unwritten() int64 { return int64(len(wc.buf) + wc.outLen + wc.waiting) }

// fits reports whether an answer of n bytes may join the unwritten ones under the limit; one
// always does when nothing is unwritten. It is called with wc.mu held.
func (wc *writeCombiner) fits(n int) bool {
	u := wc.unwritten()
	return wc.limit <= 0 || u == 0 || u+int64(n) <= wc.limit
}

// markCrowded makes the connection overcrowded once its unwritten bytes reach the limit. It is
// called with wc.mu held.
func (wc *writeCombiner) markCrowded() {
	if wc.limit > 0 && wc.unwritten() >= wc.limit {
		wc.crowded.Store(true)
	}
}

// writeVectored writes a large frame without copying its payload and attachment into the
// buffer: the frames held in the buffer and the frame's header and meta go first, in one
// vectored write with them. It is called with wc.mu held, no write in progress, and returns
// with it released, once the frame is written and whatever was added meanwhile too.
func (wc *writeCombiner) writeVectored(meta *wire.Meta, payload, attachment []byte) {
	wc.writing = true
	head := wire.AppendFrameHead(wc.buf, meta, payload, attachment)
	wc.buf = wc.spare[:0]
	wc.outLen = len(head) + len(payload) + len(attachment)
	wc.markCrowded()
	wc.mu.Unlock()
	bufs := net.Buffers{head, payload, attachment}
	n, err := bufs.WriteTo(vectorWriter(wc.w))
	wc.io.wrote(int(n))
	wc.mu.Lock()
	wc.wrote(head, err)
	wc.drain()
}

// hold adds a frame to the buffer without writing it: it leaves with the next write or flush.
func (wc *writeCombiner) hold(meta *wire.Meta, payload, attachment []byte) {
	wc.mu.Lock()
	if !wc.failed {
		wc.add(meta, payload, attachment)
	}
	wc.mu.Unlock()
}

// add appends a frame to the buffer, or what stands for it on an overcrowded connection: an
// EOVERCROWDED error frame, or nothing. It is called with wc.mu held.
func (wc *writeCombiner) add(meta *wire.Meta, payload, attachment []byte) {
	if wc.limit > 0 {
		n := wc.unwritten()
		if n > 0 && n+int64(len(payload)+len(attachment)) > wc.limit {
			wc.crowded.Store(true)
			if n >= wc.limit+wc.slack {
				if wc.overcrowded != nil {
					wc.overcrowded(n, true)
				}
				return
			}
			if wc.overcrowded != nil {
				wc.overcrowded(n, false)
			}
			em := wire.Meta{IsResponse: true, CorrelationID: meta.CorrelationID, ErrorCode: int32(wire.EOVERCROWDED),
				ErrorText: fmt.Appendf(nil, "The connection has %d bytes unwritten, over max_unwritten_bytes=%d", n, wc.limit)}
			meta, payload, attachment = &em, nil, nil
		}
	}
	wc.buf = wire.AppendFrame(wc.buf, meta, payload, attachment)
	wc.markCrowded()
}

// flush writes the frames that hold left in the buffer, unless a write is in progress, which
// takes them along. It does not yield first: the reader flushes a whole batch of answers.
func (wc *writeCombiner) flush() {
	wc.mu.Lock()
	if wc.failed || len(wc.buf) == 0 {
		wc.mu.Unlock()
		return
	}
	wc.writeOut(false)
}

// writeOut becomes the writer unless another goroutine is, and writes until the buffer is
// empty; with yield, it first lets other handlers add their answers. It is called with wc.mu
// held and returns with it released.
func (wc *writeCombiner) writeOut(yield bool) {
	if wc.writing {
		wc.mu.Unlock()
		return
	}
	wc.writing = true
	// Let the handlers that are ready to run append their responses first: one write then
	// carries them all.
	wc.mu.Unlock()
	if yield && (wc.others == nil || wc.others()) {
		runtime.Gosched()
	}
	wc.mu.Lock()
	wc.drain()
}

// drain writes until the buffer is empty, then ends the write in progress. It is called with
// wc.mu held, as the writer, and returns with it released.
func (wc *writeCombiner) drain() {
	for len(wc.buf) > 0 && !wc.failed {
		out := wc.buf
		wc.buf = wc.spare[:0]
		wc.outLen = len(out)
		wc.mu.Unlock()
		n, err := wc.w.Write(out)
		wc.io.wrote(n)
		wc.mu.Lock()
		wc.wrote(out, err)
	}
	wc.writing = false
	wc.idle.Broadcast()
	wc.mu.Unlock()
}

// wrote takes note of a finished write of out, with wc.mu held: out becomes the spare buffer,
// and the connection fails, or stops being overcrowded.
func (wc *writeCombiner) wrote(out []byte, err error) {
	if cap(out) <= maxSpare {
		wc.spare = out[:0]
	} else {
		wc.spare = nil // the old spare is wc.buf now: handing it out again would overwrite it
	}
	wc.failed = err != nil
	wc.outLen = 0
	if wc.failed {
		wc.buf = nil // a failed connection writes no more: let its answers go
	}
	if wc.limit > 0 && int64(len(wc.buf)+wc.waiting) < wc.limit/2 && wc.crowded.Load() {
		wc.crowded.Store(false)
	}
	if wc.written != nil {
		wc.mu.Unlock()
		wc.written()
		wc.mu.Lock()
	}
}

// settle waits until every frame appended so far has been written, or writing failed: a frame
// appended while another goroutine was writing leaves with that goroutine's next write, after
// its handler already returned.
func (wc *writeCombiner) settle() {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	for wc.writing {
		wc.idle.Wait()
	}
}

// initLimits sets up a new connection's back pressure.
func (sc *serverConn) initLimits() {
	s := sc.srv
	sc.resume = make(chan struct{}, 1)
	if s.opts.MaxUnwrittenBytes > 0 {
		sc.out.limit = s.opts.MaxUnwrittenBytes
		sc.out.slack = overcrowdSlack(s.opts.MaxConnectionRequests)
		sc.out.written = sc.wakeReader
		sc.out.overcrowded = sc.overcrowded
	}
}

// overcrowded warns, rate-limited, of answers replaced or dropped on this connection.
func (sc *serverConn) overcrowded(unwritten int64, dropped bool) {
	what := "troupe: connection overcrowded, answering EOVERCROWDED"
	if dropped {
		what = "troupe: connection overcrowded, dropping answers"
		sc.srv.dropped.Add(1)
	} else {
		sc.srv.crowded.Add(1)
	}
	sc.srv.warnLimited(&sc.srv.crowdLog, what, "remote", sc.conn.RemoteAddr().String(),
		"unwritten", unwritten, "max_unwritten_bytes", sc.out.limit, "dropped_total", sc.srv.dropped.Load())
}

// mustPause reports whether the reader stops reading for now; a comparison or two per request.
func (sc *serverConn) mustPause() bool {
	return sc.busy.Load() >= int64(sc.srv.opts.MaxConnectionRequests) || sc.out.crowded.Load()
}

// canResume reports whether a paused reader reads on.
func (sc *serverConn) canResume() bool {
	return sc.busy.Load() < int64(sc.srv.opts.MaxConnectionRequests) && !sc.out.crowded.Load()
}

// pause waits until the reader may read on; it reports false when the connection closed
// meanwhile. The answers the reader holds must be flushed first.
func (sc *serverConn) pause() bool {
	sc.paused.Store(true)
	defer sc.paused.Store(false)
	for !sc.canResume() {
		select {
		case <-sc.resume:
		case <-sc.ctx.Done():
			return false
		}
	}
	return true
}

// wakeReader tells a paused reader to look again.
func (sc *serverConn) wakeReader() {
	if sc.paused.Load() {
		select {
		case sc.resume <- struct{}{}:
		default:
		}
	}
}

// started counts a request of the connection into its handlers.
func (sc *serverConn) started() { sc.busy.Add(1) }

// finished counts a request of the connection out of its handlers and gives back its memory.
func (sc *serverConn) finished(hc *handlerCtx, f *wire.Frame) {
	sc.srv.dropRequest(f, hc.inflated)
	if len(f.Attachment) == 0 {
		// Nothing of a request without an attachment outlives its handler: its message was
		// parsed into fresh memory, and its ServerCall must not be used any more.
		putRequestFrame(f)
	}
	sc.busy.Add(-1)
	sc.wakeReader()
}

// vectorWriter returns the connection under a rawConn, whose own Write takes net.Buffers as a
// single vectored write; w itself otherwise.
func vectorWriter(w io.Writer) io.Writer {
	if u, ok := w.(interface{ Unwrap() net.Conn }); ok {
		return u.Unwrap()
	}
	return w
}
