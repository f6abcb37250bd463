package actors

import (
	"time"

	"github.com/troupe-rpc/troupe/wire"

	"github.com/asynkron/protoactor-go/actor"
)

// Health checking, after brpc's: a socket whose connection breaks or cannot be made is isolated —
// the channels that balance over it stop picking it — and reconnects every health-check interval
// until a connection succeeds, which brings it back. Only sockets some channel balances over are
// checked; a server that no channel lists any more is left alone.

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
	timer    *time.Timer
}

func (a *socketActor) onSubscribe(m *subscribe) {
	if a.health.watchers == nil {
		a.health.watchers = map[*actor.PID]time.Duration{}
	}
	a.health.watchers[m.pid] = m.interval
	if a.connectTimeout == 0 {
		a.connectTimeout = m.connectTimeout
	}
	if a.health.down {
		a.sk.sys.as.Root.Send(m.pid, &serverHealth{addr: a.sk.addr})
		a.armHealthCheck()
	}
}

func (a *socketActor) onUnsubscribe(m *unsubscribe) {
	delete(a.health.watchers, m.pid)
	if len(a.health.watchers) == 0 {
		a.stopHealthCheck()
	}
}

// isolate marks the socket down after a failure and starts checking it.
func (a *socketActor) isolate() {
	if !a.health.down {
		a.health.down = true
		a.sk.down.Store(true)
		a.tellWatchers(false)
	}
	a.armHealthCheck()
}

// onBreakerTripped isolates the server as a broken connection would, closing its connections
// and failing the attempts on them, and checks it again only after the breaker's isolation time.
func (a *socketActor) onBreakerTripped(m *breakerTripped) {
	a.sk.trips.Add(1)
	a.isolate()
	if a.open > 0 {
		a.sk.setErr(errCircuitBroken)
		a.closeAll(socketError(a.sk.addr, errCircuitBroken))
	}
	a.stopHealthCheck()
	sk, self := a.sk, a.self
	a.health.timer = time.AfterFunc(m.isolation, func() { sk.post(self, msgHealthCheck) })
}

// revive marks the socket up after a successful connection.
func (a *socketActor) revive() {
	a.stopHealthCheck()
	a.sk.breaker.reset()
	if a.health.down {
		a.health.down = false
		a.sk.down.Store(false)
		a.tellWatchers(true)
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
	interval := DefaultHealthCheckInterval
	for _, d := range a.health.watchers {
		interval = min(interval, d)
	}
	sk, self := a.sk, a.self
	a.health.timer = time.AfterFunc(interval, func() { sk.post(self, msgHealthCheck) })
}

func (a *socketActor) stopHealthCheck() {
	if a.health.timer != nil {
		a.health.timer.Stop()
		a.health.timer = nil
	}
}

// errCircuitBroken is why the circuit breaker closed a connection.
var errCircuitBroken = wire.Errorf(wire.EFAILEDSOCKET, "isolated by the circuit breaker")

// onHealthCheck tries to connect again; the outcome arrives as *dialed like any other dial.
func (a *socketActor) onHealthCheck() {
	a.health.timer = nil
	if !a.health.down || len(a.health.watchers) == 0 {
		return
	}
	switch {
	case a.sk.typ == connSingle && a.single == nil:
		a.sk.checks.Add(1)
		a.single = a.dial(true)
	case a.sk.typ != connSingle:
		// A probe of its own: the pool's other connections may be busy or gone. A pooled probe
		// that connects joins the pool; a short one is closed.
		a.sk.checks.Add(1)
		a.dial(a.sk.typ == connPooled)
	default:
		a.armHealthCheck()
	}
}
