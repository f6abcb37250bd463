package actors

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/troupe-rpc/troupe/wire"

	"github.com/asynkron/protoactor-go/actor"
)

// Health checking, after brpc's: a socket whose connection breaks or cannot be made is isolated —
// marked down until health checking revives it. While it is down the channels that balance over
// it stop picking it, and an attempt that still reaches it (a single-server channel's, or one
// that picked the server just before it went down) fails at once with EHOSTDOWN, without
// dialling; the default retry policy retries EHOSTDOWN, so a cluster channel's retry goes to
// another server. A connection refused or unreachable isolates at once, connect timeouts after
// connectTimeoutsToIsolate of them in a row, a broken single connection at once, and so does a
// trip of the circuit breaker. Only the health checker revives a socket: it connects again every
// health-check interval (after the breaker's isolation time for a trip), and a connection it
// made brings the socket back; a connection some attempt started before the isolation does not.
// Only sockets some channel watches are checked (every channel watches its servers' sockets);
// a server that no channel uses any more is left alone.

// connectTimeoutsToIsolate is how many connect timeouts in a row isolate a server: one may be a
// slow accept under load, several mean it is gone.
const connectTimeoutsToIsolate = 3

// Messages of health checking.
type (
	// serverHealth tells a channel actor that a socket went down or came back.
	serverHealth struct {
		addr string
		up   bool
	}
	// healthCheck is the socket's timer: time to try connecting again.
	healthCheck struct{}
	// breakerTripped asks the socket actor to isolate its server for the circuit breaker.
	breakerTripped struct{ isolation time.Duration }
	// subscribe and unsubscribe add or remove a channel actor watching the socket's health.
	subscribe struct {
		pid            *actor.PID
		interval       time.Duration
		connectTimeout time.Duration
	}
	unsubscribe struct{ pid *actor.PID }
)

func (*serverHealth) IgnoreDeadLetterLogging()   {}
func (*healthCheck) IgnoreDeadLetterLogging()    {}
func (*breakerTripped) IgnoreDeadLetterLogging() {}
func (*subscribe) IgnoreDeadLetterLogging()      {}
func (*unsubscribe) IgnoreDeadLetterLogging()    {}

var msgHealthCheck = &healthCheck{}

// healthState is the part of a socket actor that health checking owns.
type healthState struct {
	watchers map[*actor.PID]time.Duration // channel actors and the interval each asked for
	down     bool
	since    time.Time   // when the socket went down
	downErr  *wire.Error // what an attempt reaching the socket gets while it is down
	timeouts int         // connect timeouts in a row
	probe    int64       // the id of the health checker's connection in progress, 0 when none
	timer    *time.Timer
}

// reviveHook, when set, learns how long each socket stayed isolated, as the socket is revived.
var reviveHook atomic.Pointer[func(addr string, isolated time.Duration)]

func (a *socketActor) onSubscribe(m *subscribe) {
	if a.health.watchers == nil {
		a.health.watchers = map[*actor.PID]time.Duration{}
	}
	before := a.interval()
	a.health.watchers[m.pid] = m.interval
	if a.connectTimeout == 0 {
		a.connectTimeout = m.connectTimeout
	}
	if a.health.down {
		a.sk.sys.as.Root.Send(m.pid, &serverHealth{addr: a.sk.addr})
		if a.health.probe == 0 && m.interval < before {
			a.stopHealthCheck() // the new watcher asks for checks more often than the timer's
		}
		a.armHealthCheck()
	}
}

func (a *socketActor) onUnsubscribe(m *unsubscribe) {
	delete(a.health.watchers, m.pid)
	if len(a.health.watchers) == 0 {
		a.stopHealthCheck()
	}
}

// isolate marks the socket down after a failure and starts checking it. cause becomes the
// error that the EHOSTDOWN of refused attempts wraps.
func (a *socketActor) isolate(cause *wire.Error) {
	if !a.health.down {
		a.health.down = true
		a.health.since = time.Now()
		a.sk.down.Store(true)
		a.tellWatchers(false)
		a.sk.sys.clientLog.warn("isolated", "troupe: server isolated", "addr", a.sk.addr, "err", cause.Error())
	}
	a.health.downErr = &wire.Error{Code: wire.EHOSTDOWN,
		Text: fmt.Sprintf("Server %s is down (isolated since %s: %s)", a.sk.addr, a.health.since.Format("15:04:05.000"), cause.Error()),
		Addr: a.sk.addr, Err: cause}
	a.armHealthCheck()
}

// dialFailed decides whether a connection that could not be made isolates the server: a connect
// timeout only when it is the connectTimeoutsToIsolate-th in a row (or the server is already
// down), any other failure at once.
func (a *socketActor) dialFailed(c *sconn, err *wire.Error) {
	if c.id == a.health.probe {
		a.health.probe = 0
	}
	if err.Code == wire.ETIMEDOUT {
		a.health.timeouts++
		if a.health.timeouts < connectTimeoutsToIsolate && !a.health.down {
			return
		}
	}
	if a.stopping {
		return
	}
	if err.Code == wire.ERPCAUTH || err.Code == wire.ESSL { // connected: the server is there
		if a.health.down {
			a.armHealthCheck()
		}
		return
	}
	a.isolate(err)
}

// dialSucceeded revives the socket when the connection is the health checker's.
func (a *socketActor) dialSucceeded(c *sconn) {
	a.health.timeouts = 0
	if c.id == a.health.probe {
		a.health.probe = 0
		a.revive()
	}
}

// refusingDown reports whether attempts are refused: the socket is down and some channel
// watches it, so that health checking will revive it.
func (a *socketActor) refusingDown() bool { return a.health.down && len(a.health.watchers) > 0 }

// refuseQueued fails the attempts of a pooled socket that wait for a connection, once the
// server is isolated: they get EHOSTDOWN rather than dialling it.
func (a *socketActor) refuseQueued() {
	for _, q := range a.queue {
		putBuf(q.frame)
		a.fail(q.id, a.health.downErr)
	}
	a.queue = a.queue[:0]
	a.setState()
}

// refuseDown fails an attempt that reached the socket while it is down, without dialling.
func (a *socketActor) refuseDown(at *attempt, frame *frameBuf) {
	putBuf(frame)
	a.sk.pending.take(at.id)
	at.light().Send(&attemptFailed{id: at.id, err: a.health.downErr})
}

// onBreakerTripped isolates the server as a broken connection would, closing its connections
// and failing the attempts on them, and checks it again only after the breaker's isolation time.
func (a *socketActor) onBreakerTripped(m *breakerTripped) {
	a.sk.trips.Add(1)
	cause := socketError(a.sk.addr, errCircuitBroken)
	a.isolate(cause)
	a.health.probe = 0
	if len(a.conns) > 0 {
		a.sk.setErr(errCircuitBroken)
		a.closeAll(cause)
	}
	a.stopHealthCheck()
	sk, self := a.sk, a.self
	a.health.timer = time.AfterFunc(m.isolation, func() { sk.post(self, msgHealthCheck) })
}

// revive marks the socket up after the health checker connected to it.
func (a *socketActor) revive() {
	a.stopHealthCheck()
	a.sk.breaker.reset()
	if a.health.down {
		a.health.down = false
		a.health.downErr = nil
		a.sk.down.Store(false)
		a.tellWatchers(true)
		isolated := time.Since(a.health.since)
		a.sk.sys.clientLog.info("revived", "troupe: server revived", "addr", a.sk.addr, "isolated", isolated)
		if h := reviveHook.Load(); h != nil {
			(*h)(a.sk.addr, isolated)
		}
	}
}

func (a *socketActor) tellWatchers(up bool) {
	for pid := range a.health.watchers {
		a.sk.sys.as.Root.Send(pid, &serverHealth{addr: a.sk.addr, up: up})
	}
}

// armHealthCheck schedules the next connection attempt, when some channel watches the socket.
func (a *socketActor) armHealthCheck() {
	if len(a.health.watchers) == 0 || a.health.timer != nil {
		return
	}
	sk, self := a.sk, a.self
	a.health.timer = time.AfterFunc(a.interval(), func() { sk.post(self, msgHealthCheck) })
}

// interval is the health-check interval: the shortest any watcher asked for.
func (a *socketActor) interval() time.Duration {
	interval := DefaultHealthCheckInterval
	for _, d := range a.health.watchers {
		interval = min(interval, d)
	}
	return interval
}

func (a *socketActor) stopHealthCheck() {
	if a.health.timer != nil {
		a.health.timer.Stop()
		a.health.timer = nil
	}
}

// errCircuitBroken is why the circuit breaker closed a connection.
var errCircuitBroken = wire.Errorf(wire.EFAILEDSOCKET, "isolated by the circuit breaker")

// onHealthCheck tries to connect again; the outcome arrives as *dialed like any other dial, and
// a connection made here revives the socket.
func (a *socketActor) onHealthCheck() {
	a.health.timer = nil
	if !a.health.down || len(a.health.watchers) == 0 || a.health.probe != 0 {
		return
	}
	switch {
	case a.sk.typ == connSingle && a.single == nil:
		a.sk.checks.Add(1)
		a.single = a.dial(true)
		a.single.out = make([]byte, 0, initialOutSize)
		a.health.probe = a.single.id
	case a.sk.typ == connSingle && a.single.conn != nil:
		// Connected by a dial that began before the isolation: the server answers.
		a.sk.checks.Add(1)
		a.revive()
	case a.sk.typ != connSingle:
		// A probe of its own: the pool's other connections may be busy or gone. A pooled probe
		// that connects joins the pool; a short one is closed.
		a.sk.checks.Add(1)
		a.health.probe = a.dial(a.sk.typ == connPooled).id
	default:
		a.armHealthCheck()
	}
}
