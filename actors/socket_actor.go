package actors

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/wire"
)

// socketActor owns every connection of one socket: one server address, one connection type, one
// Authenticator. It dials on demand, registers each attempt's correlation id and writes the
// frames; reader goroutines it owns deliver responses straight to their calls.
//
// A single socket multiplexes all attempts on one connection: it queues frames while a write or
// the dial is in progress and writes everything queued with one syscall when its mailbox drains.
// A broken connection fails every pending attempt and isolates the server until health checking
// reconnects (socket_health.go). Pooled and short sockets give each attempt a connection of its
// own (socket_pool.go).
type socketActor struct {
	sk       *socket
	self     *actor.PID
	nextID   int64            // ids of connections
	conns    map[int64]*sconn // every connection, dialling or open
	single   *sconn           // single: the connection in use
	idle     []*sconn         // pooled: open connections without an attempt, oldest first
	queue    []queued         // pooled: attempts waiting for a connection, in arrival order
	busy     map[int64]*sconn // pooled and short: the connection carrying each attempt
	health   healthState
	open     int // connections open
	stopping bool
	recheck  bool // single: attempts failed since the mailbox last drained; skip those met later
	gathered int  // single: frames queued since the mailbox last drained (yieldFirst)
	// Settings of the channels using the socket; the last attempt's channel sets them.
	connectTimeout time.Duration
	maxUnwritten   int64 // max_unwritten_bytes of each connection; negative: none
	maxBody        int   // max_body_size of the responses read; negative: none
	poolSize       int
	idleTimeout    time.Duration
	idleTimer      *time.Timer
}

// queued is an attempt waiting for a pooled connection.
type queued struct {
	id    int64
	frame *frameBuf
}

func newSocketActor(sk *socket, o *ChannelOptions) *socketActor {
	return &socketActor{sk: sk, conns: map[int64]*sconn{}, busy: map[int64]*sconn{},
		connectTimeout: o.ConnectTimeout, poolSize: o.MaxConnectionPoolSize, idleTimeout: o.IdleTimeout,
		maxUnwritten: o.MaxUnwrittenBytes, maxBody: o.MaxBodySize}
}

func (a *socketActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *attempt:
		a.onAttempt(m)
	case *mailbox.Drained:
		a.onDrained()
	case *dialed:
		a.onDialed(m)
	case *readFailed:
		a.onReadFailed(m)
	case *backlogWritten:
		a.onBacklogWritten(m)
	case *sealedPending:
		a.onSealedPending(m)
	case *responded:
		a.onResponded(m)
	case *abandoned:
		a.onAbandoned(m)
	case *idleSweep:
		a.onIdleSweep()
	case *retired:
		close(m.done)
	case *healthCheck:
		a.onHealthCheck()
	case *breakerTripped:
		a.onBreakerTripped(m)
	case *subscribe:
		a.onSubscribe(m)
	case *unsubscribe:
		a.onUnsubscribe(m)
	case *actor.Started:
		a.self = c.Self()
	case *actor.Stopping:
		a.onStopping()
	}
}

func (a *socketActor) onAttempt(at *attempt) {
	frame := at.frame
	at.frame = nil
	a.connectTimeout = at.c.ch.opts.ConnectTimeout
	a.maxUnwritten, a.maxBody = at.c.ch.opts.MaxUnwrittenBytes, at.c.ch.opts.MaxBodySize
	if a.refusingDown() {
		a.refuseDown(at, frame)
		return
	}
	if a.sk.typ != connSingle {
		a.poolSize, a.idleTimeout = at.c.ch.opts.MaxConnectionPoolSize, at.c.ch.opts.IdleTimeout
		a.take(queued{id: at.id, frame: frame})
		return
	}
	if a.recheck && !a.sk.pending.has(at.id) { // failed with the connection it was meant for
		putBuf(frame)
		return
	}
	if a.single == nil {
		a.single = a.dial(true)
		a.single.out = make([]byte, 0, initialOutSize)
	}
	if !a.admit(a.single, at, frame) {
		putBuf(frame)
		return
	}
	a.sk.frames.Add(1)
	a.sk.io.sent(len(frame.b))
	a.queueFrame(a.single, frame)
	a.gathered++
	a.publishUnwritten(a.single)
}

// queueFrame adds a frame to c's queue. A large frame is never copied: when nothing is
// unwritten it becomes the queue itself; otherwise it waits in its own buffer, with the frames
// after it, until the queue drained (promote).
func (a *socketActor) queueFrame(c *sconn, frame *frameBuf) {
	n := len(frame.b)
	if len(c.later) > 0 || (n > maxPooledBuf && (c.unwritten() > 0 || c.writing)) {
		c.later = append(c.later, frame)
		c.laterN += n
		return
	}
	if n > maxPooledBuf && cap(frame.b) > cap(c.out) {
		c.out, frame.b = frame.b, c.out[:0]
		c.head, c.frameAt = 0, 0
	} else {
		c.out = append(c.out, frame.b...)
	}
	putBuf(frame)
}

// onDrained writes what the single connection queued while the mailbox had messages: one write
// for all of them.
func (a *socketActor) onDrained() {
	a.recheck, a.gathered = false, 0
	if c := a.single; c != nil {
		if c.stale {
			a.dropEnded(c)
		}
		a.flushConn(c)
		a.publishUnwritten(c)
	}
}

// maxYieldFrames is how many frames the single connection gathers by yielding before it
// writes them. Gathering more would save system calls but hold the first frames back while
// callers run one after another, and keep the server idle meanwhile: with 64 callers on a
// 2-processor host, stopping at 8 (with the server's maxHold cut to 50 µs) made about 6 % more
// calls per second than yielding for as long as answered calls were still to send (their
// batches averaged 9 frames).
const maxYieldFrames = 8

// yieldFirst reports whether the mailbox yields before it delivers Drained: calls that just got
// their answers are about to send (pendingMap.busy), and fewer than maxYieldFrames frames were
// gathered for the write. The mailbox calls it within the actor's turn.
func (a *socketActor) yieldFirst() bool {
	return a.gathered < maxYieldFrames && a.sk.pending.busy()
}

// dial starts a new connection in a goroutine owned by the System; the result comes back as
// *dialed. With cred, the goroutine also generates the connection's credential, when the socket
// has an Authenticator: after connecting, and off the actor, since it may be slow.
func (a *socketActor) dial(cred bool) *sconn {
	a.nextID++
	c := &sconn{id: a.nextID}
	a.conns[c.id] = c
	a.setState()
	id, sk, self, timeout := c.id, a.sk, a.self, a.connectTimeout
	auth := sk.auth
	if !cred {
		auth = nil
	}
	sk.sys.goroutine(func() {
		conn, err := sk.connect(timeout)
		if err != nil {
			sk.post(self, &dialed{id: id, err: err})
			return
		}
		if !sk.adopt(conn) {
			return
		}
		m := &dialed{id: id, conn: conn}
		if auth != nil {
			m.cred, m.auth = generateCredential(auth)
		}
		sk.post(self, m)
	})
	return c
}

// generateCredential calls the Authenticator, turning a panic into an error. An empty credential
// is still sent: the server decides whether it will do.
func generateCredential(auth Authenticator) (cred []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("GenerateCredential panicked: %v", r)
		}
	}()
	cred, err = auth.GenerateCredential()
	if err == nil && cred == nil {
		cred = []byte{}
	}
	return cred, err
}

func (a *socketActor) onDialed(m *dialed) {
	c := a.conns[m.id]
	if c == nil {
		if m.conn != nil {
			a.sk.forget(m.conn)
		}
		return
	}
	switch {
	case m.err != nil:
		a.sk.setErr(m.err)
		err := dialError(a.sk.addr, m.err)
		a.dialFailed(c, err)
		a.connFailed(c, err)
	case m.auth != nil:
		a.sk.forget(m.conn)
		a.sk.setErr(m.auth)
		a.connFailed(c, &wire.Error{Code: wire.ERPCAUTH, Text: "Fail to generate credential", Addr: a.sk.addr, Err: m.auth})
	default:
		a.connected(c, m.conn, m.cred)
	}
}

// connected makes a dialled connection usable: it starts its reader and writes what waits for it.
func (a *socketActor) connected(c *sconn, conn net.Conn, cred []byte) {
	if err := a.writeMode(c, conn); err != nil {
		a.sk.forget(conn)
		werr := dialError(a.sk.addr, err)
		a.dialFailed(c, werr)
		a.connFailed(c, werr)
		return
	}
	local := conn.LocalAddr().String()
	c.conn, c.local, c.cred = conn, &local, cred
	a.sk.local.Store(c.local)
	a.sk.conns.Add(1)
	a.open++
	a.setState()
	a.dialSucceeded(c)
	id, sk, self, typ := c.id, a.sk, a.self, a.sk.typ
	maxBody := bodyLimit(a.maxBody)
	sk.sys.goroutine(func() { readLoop(sk, self, id, conn, typ, maxBody) })
	if typ != connSingle && c.at == 0 {
		a.release(c)
		return
	}
	a.flushConn(c)
}

func (a *socketActor) onReadFailed(m *readFailed) {
	if c := a.conns[m.id]; c != nil {
		a.connBroken(c, m.err)
	}
}

// connBroken handles a connection that failed while open.
func (a *socketActor) connBroken(c *sconn, err error) {
	a.sk.setErr(err)
	werr := socketError(a.sk.addr, err)
	a.logBroken(werr)
	if a.sk.typ == connSingle {
		a.isolate(werr)
	}
	a.connFailed(c, werr)
}

// connFailed closes c and fails the attempts that were waiting for it: every pending attempt of
// a single socket, the one attempt c carried otherwise.
func (a *socketActor) connFailed(c *sconn, err *wire.Error) {
	if a.sk.typ == connSingle {
		a.closeConn(c)
		a.failAll(err)
		return
	}
	a.fail(c.at, err)
	a.closeConn(c)
}

// closeConn closes c and forgets it. A pooled socket dials again for the attempts waiting for a
// connection, if any.
func (a *socketActor) closeConn(c *sconn) {
	if a.conns[c.id] != c {
		return
	}
	delete(a.conns, c.id)
	a.unpool(c)
	if c.at != 0 {
		delete(a.busy, c.at)
		c.at = 0
	}
	if c == a.single {
		a.single = nil
		a.sk.unwritten.Store(0)
	}
	if c.conn != nil {
		a.sk.forget(c.conn)
		a.open--
	}
	c.out, c.head, c.handed = nil, 0, 0
	c.dropLater()
	a.setState()
	a.refill()
}

// setState publishes the socket's state for Inspect.
func (a *socketActor) setState() {
	st := sockIdle
	switch {
	case a.open > 0:
		st = sockConnected
	case len(a.conns) > 0:
		st = sockConnecting
	}
	a.sk.state.Store(st)
	a.sk.open.Store(int64(a.open))
	a.sk.idle.Store(int64(len(a.idle)))
	a.sk.waiting.Store(int64(len(a.queue)))
}

// fail fails one pending attempt, unless its call already gave up on it.
func (a *socketActor) fail(id int64, err *wire.Error) {
	if id == 0 {
		return
	}
	if call := a.sk.pending.take(id); call != nil {
		call.Send(&attemptFailed{id: id, err: err})
	}
}

// failAll fails every pending attempt, those waiting for a connection included.
func (a *socketActor) failAll(err *wire.Error) {
	a.recheck = true
	for _, p := range a.sk.pending.drain() {
		p.call.Send(&attemptFailed{id: p.id, err: err})
	}
	for _, q := range a.queue {
		putBuf(q.frame)
	}
	a.queue = a.queue[:0]
	a.setState()
}

// closeAll fails every pending attempt with err and closes every connection.
func (a *socketActor) closeAll(err *wire.Error) {
	a.failAll(err)
	for _, c := range a.conns {
		a.closeConn(c)
	}
}

func (a *socketActor) onStopping() {
	a.stopping = true
	a.stopHealthCheck()
	a.stopIdleTimer()
	a.closeAll(callrt.ClosedError(""))
}

// readLoop reads responses until the connection fails and delivers each to the call waiting for
// its correlation id; a response nobody waits for any more is dropped. On a pooled or short
// connection each response also tells the actor, first, that the connection is free; a short
// one is read no further. A response whose body exceeds maxBody fails the connection.
func readLoop(sk *socket, self *actor.PID, id int64, conn net.Conn, typ connType, maxBody int) {
	rconn := rawConn(conn)
	rounds := answerRounds{lone: true}
	if typ == connSingle { // a pooled connection's reader cannot tell whose call waits
		rconn = pollReads(rconn, sk.sys.readPoll, func() bool { return rounds.lone && sk.pending.n.Load() == 1 })
	}
	br := bufio.NewReaderSize(rconn, readBufSize)
	r := wire.NewReader(br, maxBody)
	r.SetAllocator(allocBody)
	local := conn.LocalAddr().String()
	for {
		in := getInbound()
		in.local = &local
		err := r.ReadFrame(&in.frame)
		if err != nil && !errors.Is(err, wire.ErrAttachmentSize) {
			putInbound(in)
			sk.post(self, &readFailed{id: id, err: err})
			return
		}
		sk.io.read(len(in.frame.Body))
		if err == nil && isRequestFrame(&in.frame.Meta) {
			putInbound(in)
			sk.post(self, &readFailed{id: id, err: errRequestAsAnswer})
			return
		}
		if err == nil {
			err = wire.VerifyChecksum(&in.frame)
		}
		in.err = err
		in.id = in.frame.Meta.CorrelationID
		call, last := sk.pending.takeLast(in.id)
		if typ != connSingle {
			// Before the call hears of it: the call's next attempt then finds the connection free.
			sk.post(self, &responded{id: id})
		}
		switch {
		case call == nil:
			putInbound(in)
		default:
			// An asynchronous call's turn runs here: a hand-off to a worker would cost a
			// goroutine wake-up per answer, more than the turn itself. A synchronous call's turn
			// is its waiting caller's, which this wakes (mailbox.SpawnOwnedIn).
			call.SendInline(in)
			if rounds.delivered(last) && br.Buffered() == 0 {
				// A lone caller's answer: yield, so that the caller its turn readied runs now
				// on this thread, not after this goroutine's next read finds nothing and parks.
				runtime.Gosched()
			}
		}
		if typ == connShort {
			return
		}
	}
}
