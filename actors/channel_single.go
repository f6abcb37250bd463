package actors

import "github.com/asynkron/protoactor-go/actor"

// channelActor is the channel in the actor tree. A plain channel to one server keeps no state
// that calls must ask for, so it receives nothing on the call path. It watches its server's
// health like a cluster channel does, so that its socket is health-checked once isolated, but
// has nothing to do with the news (*serverHealth): the socket itself refuses attempts with
// EHOSTDOWN while it is down.
type channelActor struct{ ch *PlainChannel }

func (a *channelActor) Receive(actor.Context) {}

// watchHealth subscribes a single-server channel to its socket's health checking: while some
// channel watches it, an isolated socket fails attempts at once with EHOSTDOWN and is
// reconnected every HealthCheckInterval until it answers.
func (ch *PlainChannel) watchHealth() {
	if ch.sock == nil {
		return
	}
	ch.sys.as.Root.Send(ch.sock.pid, &subscribe{pid: ch.pid, interval: ch.opts.HealthCheckInterval,
		connectTimeout: ch.opts.ConnectTimeout})
}

// unwatchHealth ends what watchHealth started, as the channel closes.
func (ch *PlainChannel) unwatchHealth() {
	if ch.sock != nil {
		ch.sys.as.Root.Send(ch.sock.pid, &unsubscribe{pid: ch.pid})
	}
}
