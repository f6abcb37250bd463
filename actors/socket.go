package actors

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/wire"
)

// Socket states, as Inspect shows them.
const (
	sockIdle int32 = iota
	sockConnecting
	sockConnected
	sockClosed
)

var sockStateNames = [...]string{"idle", "connecting", "connected", "closed"}

// sockKey identifies a socket actor: channels share one only when they talk to the same address
// with the same connection type and the same Authenticator, as brpc's channels share connections
// only when their option signatures match.
type sockKey struct {
	addr   string
	typ    connType
	auth   Authenticator
	tls    *tls.Config
	dialer Dialer
}

// socket is the handle of a socket actor: what calls and Inspect use without a message. The
// actor's own state lives in socketActor.
type socket struct {
	sys     *System
	addr    string
	typ     connType
	auth    Authenticator // nil: no credential is sent
	tls     *tls.Config   // the channel's, with the server name and a session cache; nil: plain
	dialer  Dialer        // nil: TCP
	pid     *actor.PID
	pending pendingMap
	created time.Time

	state   atomic.Int32
	local   atomic.Pointer[string] // local address of the connection used last
	lastErr atomic.Pointer[string]
	io      socketIO     // bytes and frames, for Stats
	writes  atomic.Int64 // write syscalls
	frames  atomic.Int64 // frames queued to be written
	dropped atomic.Int64 // frames dropped unwritten: their calls had ended
	conns   atomic.Int64 // connections made
	open    atomic.Int64 // connections open now
	idle    atomic.Int64 // pooled: connections open and unused
	waiting atomic.Int64 // pooled: attempts waiting for a connection
	checks  atomic.Int64 // health-check connection attempts
	trips   atomic.Int64 // times the circuit breaker isolated the server
	down    atomic.Bool  // isolated by health checking
	breaker *breaker     // fed by the calls of channels that enable circuit breaking

	unwritten atomic.Int64 // bytes of the single connection not yet written, after the actor's last turn

	mu     sync.Mutex
	live   map[net.Conn]struct{} // the connections to close on stop, once dialled
	closed bool
	ctx    context.Context // cancelled on stop: aborts a dial in progress
	cancel context.CancelFunc

	refs     int          // channels using the socket; guarded by the System's mu
	released bool         // no channel uses it any more; guarded by the System's mu
	retiring atomic.Bool  // its door is closed to attempts: it stops after its last answer
	door     mailbox.Door // closed to attempts once no channel uses the socket
	stopOnce sync.Once
}

// startSocket starts the socket actor for key; o are the options of the channel that asked for
// it, which give the pool's first settings.
func startSocket(sys *System, key sockKey, o *ChannelOptions) (*socket, error) {
	sk := &socket{sys: sys, addr: key.addr, typ: key.typ, auth: key.auth, tls: clientTLS(key.tls, key.addr), dialer: key.dialer, created: time.Now(),
		breaker: newBreaker(sys.breaker), live: map[net.Conn]struct{}{}}
	sk.pending.m = make(map[int64]*mailbox.Light)
	sk.pending.onRemove = sk.abandon
	sk.ctx, sk.cancel = context.WithCancel(context.Background())
	a := newSocketActor(sk, o)
	name := sys.socketName(key)
	pid, err := sys.as.Root.SpawnNamed(sys.socketProps(a), name)
	if errors.Is(err, actor.ErrNameExists) {
		// A socket to the same server is retiring but still finishing its calls.
		pid, err = sys.as.Root.SpawnNamed(sys.socketProps(a), fmt.Sprintf("%s#%d", name, sys.nextID.Add(1)))
	}
	if err != nil {
		sk.cancel()
		return nil, err
	}
	sk.pid = pid
	return sk, nil
}

// socketName is the registry id of a socket actor: the address for the default single
// connection without authentication, which most sockets are, and a suffix naming the rest.
func (s *System) socketName(key sockKey) string {
	name := s.name + "/sockets/" + key.addr
	if key.typ == connSingle && key.auth == nil && key.tls == nil && key.dialer == nil {
		return name
	}
	name += "/" + key.typ.String()
	if key.auth != nil {
		name += fmt.Sprintf("+auth-%d", s.nextID.Add(1))
	}
	if key.tls != nil {
		name += fmt.Sprintf("+tls-%d", s.nextID.Add(1))
	}
	if key.dialer != nil {
		name += fmt.Sprintf("+dialer-%d", s.nextID.Add(1))
	}
	return name
}

// send hands an attempt's frame to the socket actor. It registers the attempt first, in the
// call's turn, so that a call giving it up before the actor took it (a timeout, a cancel) finds
// it and the socket learns that it was abandoned: a pooled or short connection is not reused,
// a frame still queued on a single connection is dropped.
func (sk *socket) send(a *attempt) {
	sk.pending.put(a.id, a.light())
	sk.sys.as.Root.Send(sk.pid, a)
}

// stop stops the actor, closes its connections and waits until it is gone. It is idempotent.
func (sk *socket) stop() { sk.stopOnce.Do(sk.stopNow) }

func (sk *socket) stopNow() {
	sk.mu.Lock()
	sk.closed = true
	for c := range sk.live {
		closeConn(c)
	}
	clear(sk.live)
	sk.mu.Unlock()
	sk.cancel()
	_ = sk.sys.as.Root.StopFuture(sk.pid).Wait()
	sk.state.Store(sockClosed)
}

// retire stops a socket no channel uses any more, once the calls it carries have their answers:
// from now on an attempt that reaches it (from a call that picked it just before its channel
// let it go) fails at once with EFAILEDSOCKET, which the call retries elsewhere. It returns
// early, leaving the socket to Shutdown, when the System shuts down.
func (sk *socket) retire(quit <-chan struct{}) bool {
	done := make(chan struct{})
	sk.door.Close(&retired{done: done}, sk.refuse)
	sk.retiring.Store(true)
	select {
	case <-done: // every attempt that got in is registered as pending
	case <-quit:
		return false
	}
	tick := time.NewTicker(retireCheck)
	defer tick.Stop()
	for sk.pending.len() > 0 {
		select {
		case <-tick.C:
		case <-quit:
			return false
		}
	}
	sk.stop()
	return true
}

// retireCheck is how often a retiring socket looks whether its last calls ended.
const retireCheck = 20 * time.Millisecond

// refuse fails an attempt that reached a retiring socket; other messages still go in.
func (sk *socket) refuse(msg any) bool {
	at, ok := msg.(*attempt)
	if !ok {
		return false
	}
	sk.pending.take(at.id)
	if at.frame != nil {
		putBuf(at.frame)
		at.frame = nil
	}
	at.light().Send(&attemptFailed{id: at.id, err: &wire.Error{Code: wire.EFAILEDSOCKET,
		Text: "the connection to " + sk.addr + " is closing: no channel uses that server any more"}})
	return true
}

// adopt records a freshly dialled connection so that stop can close it; it reports false (and
// closes conn) when the socket is already stopping.
func (sk *socket) adopt(conn net.Conn) bool {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.closed {
		conn.Close()
		return false
	}
	sk.live[conn] = struct{}{}
	return true
}

// forget closes a connection the actor is done with and stops tracking it.
func (sk *socket) forget(conn net.Conn) {
	closeConn(conn)
	sk.mu.Lock()
	delete(sk.live, conn)
	sk.mu.Unlock()
}

// post sends msg to the socket actor from one of its goroutines, unless the socket is stopping:
// then the message has no one to go to, and it is dropped instead of becoming a dead letter.
func (sk *socket) post(self *actor.PID, msg any) {
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if !sk.closed {
		sk.sys.as.Root.Send(self, msg)
	}
}

// abandon tells the socket that a call gave up an attempt before its answer came (a timeout, a
// cancel, the other half of a backup pair). A pooled or short connection carrying it cannot be
// reused, since the answer may still arrive on it; a single connection drops its frame if it is
// still queued.
func (sk *socket) abandon(id int64) { sk.post(sk.pid, &abandoned{id: id}) }

func (sk *socket) setErr(err error) {
	s := err.Error()
	sk.lastErr.Store(&s)
}

// pendingMap maps correlation ids to the call actors waiting for them. The socket actor adds,
// the reader goroutine and finishing calls remove. Entries hold the call, not the attempt: a call
// may reuse its attempt struct for the next attempt while an earlier one is still pending.
type pendingMap struct {
	mu sync.Mutex
	m  map[int64]*mailbox.Light
	n  atomic.Int64 // len(m), for the reader's polling without the lock
	// coming counts the answers (and failures) handed to calls, less the attempts sent since,
	// never below zero: calls likely to send again soon. What calls that never send again leave
	// of it fades as other calls send (each of their writes then yields once). comingN is
	// coming, for busy without the lock.
	coming  int64
	comingN atomic.Int64
	// onRemove, if set, learns of each entry a call removed before its answer arrived.
	onRemove func(id int64)
	// tune finds out, from the answers, whether writes go out faster without the yield.
	tune yieldTuner
}

// pendingCall is one entry of a pendingMap.
type pendingCall struct {
	id   int64
	call *mailbox.Light
}

// busy reports whether calls that just got their answers have not sent again: their next
// frames are likely to join a write that waits for them, which is worth the socket actor's yield
// where the tuner found that it pays. A caller that sends alone finds it false and writes at
// once. (Yielding whenever other calls were in flight made eight callers 5 – 9 % slower: most of
// those yields waited for callers that had nothing to send yet.)
func (p *pendingMap) busy() bool { return p.comingN.Load() > 0 && !p.tune.skip.Load() }

func (p *pendingMap) put(id int64, call *mailbox.Light) {
	p.mu.Lock()
	p.m[id] = call
	p.n.Store(int64(len(p.m)))
	if p.coming > 0 {
		p.coming--
		p.comingN.Store(p.coming)
	}
	p.mu.Unlock()
}

func (p *pendingMap) take(id int64) *mailbox.Light {
	l, _ := p.takeLast(id)
	return l
}

// takeLast is take that also reports whether no other call waits for an answer.
func (p *pendingMap) takeLast(id int64) (*mailbox.Light, bool) {
	p.mu.Lock()
	l := p.m[id]
	delete(p.m, id)
	last := len(p.m) == 0
	p.n.Store(int64(len(p.m)))
	if l != nil {
		p.coming++
		p.comingN.Store(p.coming)
		p.tune.answered()
	}
	p.mu.Unlock()
	return l, last
}

// has reports whether id is still waited for.
func (p *pendingMap) has(id int64) bool {
	p.mu.Lock()
	_, ok := p.m[id]
	p.mu.Unlock()
	return ok
}

// remove is how a call forgets an attempt; an entry still present means its answer never came.
func (p *pendingMap) remove(id int64) {
	p.mu.Lock()
	_, ok := p.m[id]
	delete(p.m, id)
	p.n.Store(int64(len(p.m)))
	p.mu.Unlock()
	if ok && p.onRemove != nil {
		p.onRemove(id)
	}
}

func (p *pendingMap) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// drain removes and returns every pending entry.
func (p *pendingMap) drain() []pendingCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]pendingCall, 0, len(p.m))
	for id, l := range p.m {
		out = append(out, pendingCall{id, l})
		delete(p.m, id)
	}
	p.n.Store(0)
	return out
}

// Messages of the socket actor, each about one connection (by its id) unless said otherwise.
// They implement IgnoreDeadLetterLogging: one that reaches a stopped socket is expected during
// shutdown and needs no log.
type (
	dialed struct {
		id   int64
		conn net.Conn
		err  error  // the dial failed
		cred []byte // the credential for the connection's first request
		auth error  // generating the credential failed
	}
	readFailed struct {
		id  int64
		err error
	}
	backlogWritten struct {
		id  int64
		err error
	}
	// responded: a pooled or short connection received the answer to its attempt.
	responded struct{ id int64 }
	// abandoned: a call gave up waiting for attempt id (see socket.abandon).
	abandoned struct{ id int64 }
	// idleSweep: time to close the pooled connections idle for too long.
	idleSweep struct{}
	// retired: the last message before the socket's door closed to attempts (see retire).
	retired struct{ done chan struct{} }
)

func (*dialed) IgnoreDeadLetterLogging()         {}
func (*readFailed) IgnoreDeadLetterLogging()     {}
func (*backlogWritten) IgnoreDeadLetterLogging() {}
func (*responded) IgnoreDeadLetterLogging()      {}
func (*abandoned) IgnoreDeadLetterLogging()      {}
func (*idleSweep) IgnoreDeadLetterLogging()      {}
func (*retired) IgnoreDeadLetterLogging()        {}
func (*attempt) IgnoreDeadLetterLogging()        {}
