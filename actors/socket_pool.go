package actors

import "time"

// Pooled and short sockets, after brpc's connection types of the same names: each attempt has a
// connection of its own, which carries nothing else until its answer came.
//
// A short socket dials a connection for every attempt and closes it once the answer came. A
// pooled socket takes the most recently used idle connection, or dials one while the socket has
// fewer than the pool size; beyond it attempts queue, in order, until a connection comes back.
// A connection comes back when its answer arrived; one whose attempt was abandoned before then (a
// timeout, a cancel) is closed instead, since the late answer may still arrive on it, as brpc
// does. Idle connections are closed after the idle timeout. A connection that breaks fails only
// the attempt it carries; a connection that cannot be made isolates the server, as in brpc.

var msgIdleSweep = &idleSweep{}

// take gives an attempt of a pooled or short socket a connection, or queues it. An attempt its
// call gave up on already, or one failed while it travelled here, is dropped.
func (a *socketActor) take(q queued) {
	if !a.sk.pending.has(q.id) {
		putBuf(q.frame)
		return
	}
	a.sk.frames.Add(1)
	a.sk.io.sent(len(q.frame.b))
	if a.sk.typ == connPooled {
		if c := a.popIdle(); c != nil {
			a.assign(c, q)
			return
		}
		if len(a.conns) >= a.poolSize {
			a.queue = append(a.queue, q)
			a.setState()
			return
		}
	}
	a.assign(a.dial(true), q)
}

// assign puts attempt q on connection c; a connection still dialling writes it once connected.
func (a *socketActor) assign(c *sconn, q queued) {
	c.at = q.id
	a.busy[q.id] = c
	a.queueFrame(c, q.frame)
	if c.local != nil {
		a.sk.local.Store(c.local)
	}
	a.flushConn(c)
}

// release handles an open connection that carries no attempt any more: the next queued attempt
// takes it, or it joins the idle pool, or — short, or beyond the pool size — it is closed.
func (a *socketActor) release(c *sconn) {
	if a.sk.typ == connPooled && !a.stopping {
		if q, ok := a.nextQueued(); ok {
			a.assign(c, q)
			return
		}
		if len(a.conns) <= a.poolSize {
			c.idleAt = time.Now()
			a.idle = append(a.idle, c)
			a.setState()
			a.armIdle()
			return
		}
	}
	a.closeConn(c)
}

// onResponded frees a connection whose answer arrived.
func (a *socketActor) onResponded(m *responded) {
	c := a.conns[m.id]
	if c == nil || c.conn == nil {
		return
	}
	if c.at != 0 {
		delete(a.busy, c.at)
		c.at = 0
	}
	a.release(c)
}

// onAbandoned closes the connection of an attempt its call gave up on. A connection still
// dialling only drops the attempt's frame: it serves another attempt once connected. A queued
// attempt is skipped when its turn comes.
func (a *socketActor) onAbandoned(m *abandoned) {
	if a.sk.typ == connSingle {
		a.onAbandonedSingle()
		return
	}
	c := a.busy[m.id]
	if c == nil {
		return
	}
	delete(a.busy, m.id)
	c.at = 0
	if c.conn == nil {
		c.out = c.out[:0]
		c.dropLater()
		return
	}
	a.closeConn(c)
}

// nextQueued pops the first queued attempt whose call still waits for it.
func (a *socketActor) nextQueued() (queued, bool) {
	defer a.setState()
	for len(a.queue) > 0 {
		q := a.queue[0]
		a.queue[0] = queued{}
		a.queue = a.queue[1:]
		if a.sk.pending.has(q.id) {
			return q, true
		}
		putBuf(q.frame)
	}
	return queued{}, false
}

// refill dials for queued attempts while the pool has room, after a connection closed.
func (a *socketActor) refill() {
	if a.refusingDown() {
		a.refuseQueued()
		return
	}
	for !a.stopping && len(a.queue) > 0 && len(a.conns) < a.poolSize {
		q, ok := a.nextQueued()
		if !ok {
			return
		}
		a.assign(a.dial(true), q)
	}
}

// popIdle takes the most recently used idle connection, leaving the oldest to expire.
func (a *socketActor) popIdle() *sconn {
	n := len(a.idle)
	if n == 0 {
		return nil
	}
	c := a.idle[n-1]
	a.idle[n-1] = nil
	a.idle = a.idle[:n-1]
	c.idleAt = time.Time{}
	a.setState()
	return c
}

// unpool removes c from the idle connections, if it is one.
func (a *socketActor) unpool(c *sconn) {
	if c.idleAt.IsZero() {
		return
	}
	c.idleAt = time.Time{}
	for i, ic := range a.idle {
		if ic == c {
			a.idle = append(a.idle[:i], a.idle[i+1:]...)
			return
		}
	}
}

// armIdle schedules the sweep that closes the oldest idle connection once it expires.
func (a *socketActor) armIdle() {
	if a.idleTimer != nil || len(a.idle) == 0 || a.stopping {
		return
	}
	d := time.Until(a.idle[0].idleAt.Add(a.idleTimeout))
	sk, self := a.sk, a.self
	a.idleTimer = time.AfterFunc(max(d, 0), func() { sk.post(self, msgIdleSweep) })
}

// onIdleSweep closes the connections idle for the idle timeout or longer.
func (a *socketActor) onIdleSweep() {
	a.idleTimer = nil
	now := time.Now()
	for len(a.idle) > 0 && now.Sub(a.idle[0].idleAt) >= a.idleTimeout {
		a.closeConn(a.idle[0])
	}
	a.armIdle()
}

func (a *socketActor) stopIdleTimer() {
	if a.idleTimer != nil {
		a.idleTimer.Stop()
		a.idleTimer = nil
	}
}
