package actors

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
)

// serverConn is one accepted connection: a reader goroutine that decodes requests and hands them
// to worker goroutines, handling the last request of each read itself, and a combining writer
// shared by those goroutines.
type serverConn struct {
	srv    *Server
	conn   net.Conn
	out    writeCombiner
	ctx    context.Context // cancelled when the connection closes
	cancel context.CancelFunc
	once   sync.Once
	authed bool                 // the first request's credential was accepted (or none is required); reader's
	tls    *tls.ConnectionState // the TLS connection's state once its handshake is done; nil: plain
	isTLS  atomic.Bool          // tls is set, for Stats and Inspect
	// plainRefused: a plain connection to a server that requires TLS; every request gets ESSL.
	plainRefused bool

	// Reading the connection belongs to one goroutine at a time; while the reader handles a
	// request in place, role and since tell the server's watchdog whether to move reading to a
	// new goroutine (see server_inplace.go).
	br      *bufio.Reader
	r       *wire.Reader
	role    atomic.Int32           // roleReading, roleInPlace or roleMoved
	since   atomic.Int64           // when the handler running in place started, Unix nanoseconds
	inPlace atomic.Pointer[method] // the method of the handler running in place

	// Limits (server_write.go, server_idle.go): busy counts the requests in handlers, reqs
	// those read; a paused reader waits on resume.
	busy      atomic.Int64
	io        connIO // bytes and age, for Stats
	reqs      atomic.Int64
	polledAt  int64 // reqs at the reader's last read of the socket (loneRequest)
	paused    atomic.Bool
	resume    chan struct{}
	idleSeen  int64 // reqs when the idle sweeper last saw it change; the sweeper's
	idleSince int64 // when that was, Unix nanoseconds; the sweeper's

	// readAt is when the reading goroutine last read a request it admitted, Unix nanoseconds:
	// the clock its held answers are timed by. The reading goroutine's.
	readAt int64
}

func newServerConn(s *Server, c net.Conn) *serverConn {
	ctx, cancel := context.WithCancel(context.Background())
	sc := &serverConn{srv: s, conn: c, ctx: ctx, cancel: cancel, authed: s.opts.Authenticator == nil}
	sc.io.born = time.Now()
	sc.out.w, sc.out.io = c, &sc.io
	sc.out.others = func() bool { return s.inflight.Load() > 1 }
	sc.out.idle.L = &sc.out.mu
	sc.initLimits()
	return sc
}

// drain lets the responses already queued or held leave before the connection closes, waiting
// at most until deadline for a peer that does not read.
func (sc *serverConn) drain(deadline time.Time) {
	_ = sc.conn.SetWriteDeadline(deadline)
	sc.out.flush() // answers the reader handled and has not written out yet
	sc.out.settle()
}

func (sc *serverConn) close() {
	sc.once.Do(func() {
		sc.cancel()
		sc.conn.Close()
	})
}

func (sc *serverConn) serve() {
	if sc.srv.opts.TLS != nil {
		rc := &readerConn{Conn: sc.conn, r: bufio.NewReaderSize(sc.conn, readBufSize)}
		conn, ok := sc.startTLS(rc)
		if !ok {
			sc.end()
			return
		}
		if conn == net.Conn(rc) {
			sc.br = rc.r
		} else {
			sc.out.w = conn
		}
		sc.serveFrom(conn)
		return
	}
	raw := rawConn(sc.conn)
	sc.out.w = raw
	sc.serveFrom(raw)
}

// serveFrom reads requests from conn: the accepted connection, or its TLS connection.
func (sc *serverConn) serveFrom(conn net.Conn) {
	if sc.br == nil {
		sc.br = bufio.NewReaderSize(pollReads(conn, readPoll(sc.srv.opts.ReadPoll), sc.loneRequest), readBufSize)
	}
	sc.r = wire.NewReader(sc.br, sc.srv.opts.MaxBodySize)
	sc.r.SetAllocator(allocBody)
	sc.read()
}

// read reads requests until the connection ends, then closes it; or until a handler it runs in
// place outlasted inPlaceHandoff and another goroutine reads on. The answers of requests it
// handles itself wait in the write buffer until no whole request is left to read, or until they
// have waited maxHold, and then leave in one write.
func (sc *serverConn) read() {
	var heldAt int64 // when the oldest answer waiting in the write buffer was added; 0: none
	for {
		if heldAt != 0 && (!sc.r.FrameBuffered() || sc.readAt-heldAt > int64(maxHold)) {
			sc.out.flush()
			heldAt = 0
		}
		if sc.mustPause() {
			sc.out.flush()
			heldAt = 0
			if !sc.pause() {
				sc.end()
				return
			}
		}
		f := getRequestFrame()
		err := sc.r.ReadFrame(f)
		if err == nil || errors.Is(err, wire.ErrAttachmentSize) || errors.Is(err, wire.ErrChecksum) {
			sc.io.read(len(f.Body))
			if !sc.authed && !sc.authenticate(f) {
				sc.linger()
				sc.end()
				return
			}
			reading, held := sc.dispatch(f, err)
			if !reading {
				return
			}
			if held && heldAt == 0 {
				heldAt = sc.readAt
			}
			continue
		}
		if heldAt != 0 {
			sc.out.flush()
		}
		if err != io.EOF && !sc.srv.closing.Load() && sc.ctx.Err() == nil {
			sc.srv.log.Warn("troupe: closing connection", "remote", sc.conn.RemoteAddr().String(), "err", err)
		}
		sc.end()
		return
	}
}

// loneRequest reports whether the requests read since its last call are exactly one: the
// client makes one call at a time, and its next request is due soon. It is called by the
// reading goroutine, before each read of the socket.
func (sc *serverConn) loneRequest() bool {
	n := sc.reqs.Load()
	lone := n-sc.polledAt == 1
	sc.polledAt = n
	return lone
}

// end closes the connection once its reading ended; the reader's count in the server goes with
// it.
func (sc *serverConn) end() {
	sc.close()
	sc.srv.forget(sc)
	sc.srv.wg.Done()
}

// dispatch answers a request that cannot be served at once, or starts its handler: on a worker
// goroutine, or in place on the reading goroutine. A request runs in place when it is the last
// one read (brpc's rule: one goroutine wake-up less per call on a connection with one request at
// a time) or when its method is quick, so that a batch of quick requests costs no wake-up at
// all. It returns whether this goroutine still reads, and whether it left an answer in the write
// buffer for read to send.
func (sc *serverConn) dispatch(f *wire.Frame, frameErr error) (reading, held bool) {
	sc.reqs.Add(1) // activity, for the idle sweeper
	if f.Meta.IsResponse {
		sc.srv.log.Warn("troupe: ignoring a response frame sent to a server", "remote", sc.conn.RemoteAddr().String())
		return true, false
	}
	if sc.plainRefused {
		sc.reply(f, nil, nil, errTLSRequired, false)
		return true, false
	}
	if frameErr == nil {
		frameErr = wire.VerifyChecksum(f)
	}
	if frameErr != nil {
		sc.reply(f, nil, nil, &wire.Error{Code: wire.EREQUEST, Text: frameErr.Error()}, false)
		return true, false
	}
	m, name, werr := sc.srv.lookup(f.Meta.Service, f.Meta.Method)
	if werr != nil {
		sc.reply(f, nil, nil, werr, false)
		return true, false
	}
	if werr := sc.srv.holdRequest(f); werr != nil {
		m.refused(werr)
		sc.reply(f, nil, nil, werr, false)
		return true, false
	}
	if werr := sc.srv.admit(); werr != nil { // ELOGOFF while closing: written before the connection closes
		sc.srv.dropRequest(f, 0)
		m.refused(werr)
		sc.reply(f, nil, nil, werr, false)
		return true, false
	}
	if werr := m.limit.admit(); werr != nil { // the method's limit, after the server's
		sc.srv.release()
		sc.srv.dropRequest(f, 0)
		m.refused(werr)
		sc.reply(f, nil, nil, werr, false)
		return true, false
	}
	sc.started()
	now := time.Now()
	sc.readAt = now.UnixNano()
	var deadline time.Time // the request was read just now: its timeout_ms counts from here
	if ms := f.Meta.TimeoutMs; ms > 0 {
		deadline = now.Add(time.Duration(ms) * time.Millisecond)
	}
	if sc.srv.opts.NoInPlace || m.slow() || (sc.br.Buffered() > 0 && !m.quick()) {
		sc.srv.workers.run(serverTask{sc: sc, f: f, m: m, name: name, deadline: deadline})
		return true, false
	}
	return sc.handleInPlace(f, m, name, deadline, now), true
}

// handle runs one request's handler, under a context ending at deadline unless it is zero, and
// writes its answer, or only adds it to the write buffer when hold is true; an answer the
// handler returns once deadline has passed is dropped. start is now: the handler starts.
func (sc *serverConn) handle(f *wire.Frame, m *method, name string, deadline time.Time, hold bool, start time.Time) {
	defer sc.srv.release()
	hc := &handlerCtx{Context: sc.ctx, call: ServerCall{method: name, meta: &f.Meta, reqAttachment: f.Attachment,
		remote: sc.conn.RemoteAddr(), local: sc.conn.LocalAddr(), tls: sc.tls}, deadline: deadline}
	defer sc.finished(hc, f)
	m.began()
	sc.srv.traceRequest(hc)
	resp, werr := sc.invoke(hc, f, m)
	end := time.Now()
	hc.release()
	m.observe(end.Sub(start))
	m.limit.release(werr, start, end)
	if !deadline.IsZero() && !end.Before(deadline) {
		// The client has given up: the answer is dropped (see ServerCall).
		m.ended(start, end, werr, deadline)
		hc.trace.end(errAnswerDropped)
		return
	}
	// The request's span and its metrics end with what the client is told: a response that
	// fails to encode is an error there too.
	werr = sc.reply(f, resp, &hc.call, werr, hold)
	m.ended(start, end, werr, deadline)
	hc.trace.end(werr)
}

// errAnswerDropped is what the span of a request records when its handler returned after the
// request's deadline: the client had given up, and the answer was not sent.
var errAnswerDropped = &wire.Error{Code: wire.ERPCTIMEDOUT, Text: "the handler returned after the request's deadline: the answer was dropped"}

// invoke parses the request and calls the handler, turning a panic in either into EINTERNAL and
// a nil response into EINTERNAL too.
func (sc *serverConn) invoke(ctx *handlerCtx, f *wire.Frame, m *method) (resp proto.Message, werr *wire.Error) {
	defer func() {
		if r := recover(); r != nil {
			sc.srv.log.Error("troupe: handler panicked", "method", ServerCallFromContext(ctx).Method(),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp, werr = nil, &wire.Error{Code: wire.EINTERNAL, Text: fmt.Sprintf("handler panicked: %v", r)}
		}
	}()
	req, werr := sc.parse(ctx, f, m)
	if werr != nil {
		return nil, werr
	}
	resp, err := m.handle(ctx.handlerContext(), req)
	if err != nil {
		return nil, errorForWire(err)
	}
	if resp == nil || !resp.ProtoReflect().IsValid() {
		name := ServerCallFromContext(ctx).Method()
		return nil, &wire.Error{Code: wire.EINTERNAL, Text: "handler of " + name + " returned a nil response and no error"}
	}
	return resp, nil
}

func (sc *serverConn) parse(hc *handlerCtx, f *wire.Frame, m *method) (proto.Message, *wire.Error) {
	payload := f.Payload
	if f.Meta.CompressType != wire.CompressNone {
		var werr *wire.Error
		if payload, werr = sc.inflate(hc, f); werr != nil {
			return nil, werr
		}
	}
	req := m.NewRequest()
	if err := proto.Unmarshal(payload, req); err != nil {
		return nil, &wire.Error{Code: wire.EREQUEST, Text: fmt.Sprintf("Fail to parse request=%s, request_size=%d: %v",
			req.ProtoReflect().Descriptor().FullName(), len(payload), err)}
	}
	return req, nil
}

// errorForWire turns a handler's error into the code and text sent back. A code of 0 (a
// handler's error must fail the call) and a typed nil become EINTERNAL.
func errorForWire(err error) *wire.Error {
	var we *wire.Error
	if errors.As(err, &we) && we != nil {
		if we.Code == 0 {
			return &wire.Error{Code: wire.EINTERNAL, Text: we.Text}
		}
		return &wire.Error{Code: we.Code, Text: we.Text}
	}
	var code wire.Errno
	if errors.As(err, &code) && code != 0 {
		return &wire.Error{Code: code, Text: err.Error()}
	}
	if we != nil || err == nil {
		return &wire.Error{Code: wire.EINTERNAL, Text: "handler returned an error with no code"}
	}
	return &wire.Error{Code: wire.EINTERNAL, Text: safeErrorText(err)}
}

// safeErrorText returns err.Error(), or a placeholder when that panics (a typed nil whose Error
// method dereferences its receiver).
func safeErrorText(err error) (text string) {
	defer func() {
		if recover() != nil {
			text = fmt.Sprintf("handler returned an unprintable %T", err)
		}
	}()
	return err.Error()
}

// reply writes a response frame for f's request: resp on success, or werr; with the response
// attachment (on success only) and user fields of call, when the request reached its handler.
// With hold, the frame waits in the write buffer for the next write or flush. It returns the
// error the frame carries: werr, or the failure to encode resp.
func (sc *serverConn) reply(f *wire.Frame, resp proto.Message, call *ServerCall, werr *wire.Error, hold bool) *wire.Error {
	meta := wire.Meta{IsResponse: true, CorrelationID: f.Meta.CorrelationID, CompressType: wire.CompressNone}
	var payload, attachment []byte
	if call != nil {
		attachment, meta.UserFields = call.respAttachment, call.respFields
	}
	if werr != nil {
		meta.ErrorCode = int32(werr.Code)
		meta.ErrorText = []byte(werr.Text)
		attachment = nil
	} else {
		var pb *frameBuf
		var err error
		payload, pb, err = sc.encode(f, resp, &meta)
		defer putPayload(pb) // the write combiner has written or copied the payload when reply returns
		if err != nil {
			werr = &wire.Error{Code: wire.ERESPONSE, Text: err.Error()}
			meta.ErrorCode, meta.ErrorText, attachment, payload = int32(werr.Code), []byte(werr.Text), nil, nil
		}
	}
	if hold && len(payload)+len(attachment) <= maxPooledBuf { // a large answer is written at once, without a copy
		sc.out.hold(&meta, payload, attachment)
		return werr
	}
	sc.out.write(&meta, payload, attachment)
	return werr
}

// encode marshals resp into a pooled buffer, which it returns to give back once the frame is
// written, compressed as the request was, as brpc answers.
func (sc *serverConn) encode(f *wire.Frame, resp proto.Message, meta *wire.Meta) ([]byte, *frameBuf, error) {
	b, pb, err := marshalPooled(resp)
	if err != nil {
		return nil, pb, fmt.Errorf("fail to serialize response: %v", err)
	}
	if t := f.Meta.CompressType; t != wire.CompressNone {
		if b, err = wire.Compress(nil, b, t); err != nil {
			return nil, pb, fmt.Errorf("fail to compress response: %v", err)
		}
		meta.CompressType = t
	}
	return b, pb, nil
}
