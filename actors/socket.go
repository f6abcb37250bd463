package actors

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Socket states, as Inspect shows them.
const (
	sockIdle int32 = iota
	sockConnecting
	sockConnected
	sockClosed
)

var sockStateNames = [...]string{"idle", "connecting", "connected", "closed"}

// socket is the handle of a socket actor: what calls and Inspect use without a message. The
// actor's own state lives in socketActor.
type socket struct {
	sys     *System
	addr    string
	pid     *actor.PID
	pending pendingMap
	created time.Time

	state   atomic.Int32
	local   atomic.Pointer[string] // local address of the current connection
	lastErr atomic.Pointer[string]
	writes  atomic.Int64 // write syscalls
	frames  atomic.Int64 // frames written
	conns   atomic.Int64 // connections made

	mu     sync.Mutex
	live   net.Conn // the connection to close on stop, once dialled
	closed bool
	ctx    context.Context // cancelled on stop: aborts a dial in progress
	cancel context.CancelFunc
}

func startSocket(sys *System, addr string) (*socket, error) {
	sk := &socket{sys: sys, addr: addr, created: time.Now()}
	sk.pending.m = make(map[int64]*attempt)
	sk.ctx, sk.cancel = context.WithCancel(context.Background())
	a := &socketActor{sk: sk, out: make([]byte, 0, 64<<10)}
	pid, err := sys.as.Root.SpawnNamed(sys.props(a, true), sys.name+"/sockets/"+addr)
	if err != nil {
		sk.cancel()
		return nil, err
	}
	sk.pid = pid
	return sk, nil
}

// send hands an attempt's frame to the socket actor.
func (sk *socket) send(a *attempt) { sk.sys.as.Root.Send(sk.pid, a) }

// stop stops the actor, closes its connection and waits until it is gone.
func (sk *socket) stop() {
	sk.mu.Lock()
	sk.closed = true
	if sk.live != nil {
		sk.live.Close()
	}
	sk.mu.Unlock()
	sk.cancel()
	_ = sk.sys.as.Root.StopFuture(sk.pid).Wait()
	sk.state.Store(sockClosed)
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
	sk.live = conn
	return true
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

func (sk *socket) setErr(err error) {
	s := err.Error()
	sk.lastErr.Store(&s)
}

// pendingMap maps correlation ids to the attempts waiting for them. The socket actor adds, the
// reader goroutine and finishing calls remove.
type pendingMap struct {
	mu sync.Mutex
	m  map[int64]*attempt
}

func (p *pendingMap) put(a *attempt) {
	p.mu.Lock()
	p.m[a.id] = a
	p.mu.Unlock()
}

func (p *pendingMap) take(id int64) *attempt {
	p.mu.Lock()
	a := p.m[id]
	delete(p.m, id)
	p.mu.Unlock()
	return a
}

func (p *pendingMap) remove(id int64) {
	p.mu.Lock()
	delete(p.m, id)
	p.mu.Unlock()
}

func (p *pendingMap) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// drain removes and returns every pending attempt.
func (p *pendingMap) drain() []*attempt {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*attempt, 0, len(p.m))
	for id, a := range p.m {
		out = append(out, a)
		delete(p.m, id)
	}
	return out
}

// Messages of the socket actor. They implement IgnoreDeadLetterLogging: one that reaches a
// stopped socket is expected during shutdown and needs no log.
type (
	dialed struct {
		gen  int64
		conn net.Conn
		err  error
	}
	readFailed struct {
		gen int64
		err error
	}
	backlogWritten struct {
		gen int64
		err error
	}
)

func (*dialed) IgnoreDeadLetterLogging()         {}
func (*readFailed) IgnoreDeadLetterLogging()     {}
func (*backlogWritten) IgnoreDeadLetterLogging() {}
func (*attempt) IgnoreDeadLetterLogging()        {}
