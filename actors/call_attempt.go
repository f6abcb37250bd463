package actors

import (
	"errors"
	"time"

	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// receivePlain handles the plain engine's messages.
func (c *Call) receivePlain(msg any) {
	switch m := msg.(type) {
	case *inbound:
		c.onResponse(m)
	case *attemptFailed:
		c.onAttemptFailed(m)
	case *callBackup:
		c.onBackup()
	case *callRetry, *listReady:
		c.send()
	}
}

// send starts an attempt: it picks a server (the channel's one, or one from the cluster's
// snapshot avoiding those already tried) and hands the frame to its socket actor. A cluster with
// no server list yet makes the call wait for one; a failed pick fails the attempt.
func (c *Call) send() {
	sock, node, err := c.pick()
	if err == errNoListYet {
		c.state.Store(callAwaitingServers)
		c.ch.cluster.post(c.sys, &awaitList{call: c.light.Load()})
		return
	}
	if err != nil {
		if c.prev != nil { // no server for the backup request: keep waiting for the original
			c.cur, c.prev = c.prev, nil
			return
		}
		c.retryOrFinish(c.pickError(err))
		return
	}
	at := &c.first
	if c.cur != nil {
		at = new(attempt) // an earlier attempt may still be in the socket actor's hands
	}
	now := c.armed // the first attempt leaves as the call's deadline is armed
	if now.IsZero() {
		now = time.Now()
	}
	c.armed = time.Time{}
	*at = attempt{c: c, light: c.light.Load(), id: c.sys.nextID.Add(1), sock: sock, node: node,
		frame: getBuf(), sent: now}
	c.cur = at
	c.server.Store(&sock.addr)
	meta := wire.Meta{
		Service: bytesOf(c.method[:len(c.method)-len(methodName(c.method))-1]),
		Method:  bytesOf(methodName(c.method)), CompressType: c.cntl.compress, CorrelationID: at.id,
		RequestID: bytesOf(c.cntl.requestID),
	}
	if id, ok := c.cntl.LogID(); ok {
		meta.LogID = id
	}
	if dl := c.effectiveDeadline(); !dl.IsZero() {
		meta.TimeoutMs = int32(min(max(dl.Sub(now).Milliseconds(), 1), 1<<31-1))
	}
	at.frame.b = wire.AppendFrame(at.frame.b, &meta, c.payload, c.cntl.reqAttachment)
	c.state.Store(callWaiting)
	sock.send(at)
}

// errNoListYet is pick's answer while a cluster channel has not heard from its naming service.
var errNoListYet = errors.New("no server list yet")

// pick chooses the socket for the next attempt.
func (c *Call) pick() (*socket, naming.ServerNode, error) {
	cl := c.ch.cluster
	if cl == nil {
		return c.ch.sock, naming.ServerNode{}, nil
	}
	if c.ch.closed.Load() {
		return nil, naming.ServerNode{}, closedError(c.method)
	}
	snap := cl.snap.Load()
	if snap == nil {
		return nil, naming.ServerNode{}, errNoListYet
	}
	req := lb.Request{Excluded: c.tried, Begin: time.Now()}
	req.Code, req.HasCode = c.cntl.RequestCode()
	i, err := snap.picker.Pick(&req)
	if err != nil {
		return nil, naming.ServerNode{}, err
	}
	return snap.socks[i], snap.servers[i].ServerNode, nil
}

// pickError gives a balancer's refusal the call's method and channel.
func (c *Call) pickError(err error) *wire.Error {
	var we *wire.Error
	if errors.As(err, &we) {
		e := *we
		e.Method = c.method
		if e.Addr == "" {
			e.Addr = c.ch.target
		}
		return &e
	}
	return c.errorf(wire.ErrnoOf(err), err, "Fail to select a server")
}

// attemptFor returns the pending attempt with correlation id, or nil.
func (c *Call) attemptFor(id int64) *attempt {
	switch {
	case c.cur != nil && c.cur.id == id:
		return c.cur
	case c.prev != nil && c.prev.id == id:
		return c.prev
	}
	return nil
}

func (c *Call) onResponse(in *inbound) {
	defer putInbound(in)
	at := c.attemptFor(in.id)
	if at == nil {
		return
	}
	m := &in.frame.Meta
	c.local = in.local
	var err error
	switch {
	case m.ErrorCode != 0:
		err = &wire.Error{Code: wire.Errno(m.ErrorCode), Text: string(m.ErrorText), Method: c.method, Addr: at.sock.addr, Remote: true}
	case in.err != nil:
		err = c.errorf(wire.ERESPONSE, in.err, "Bad response")
	default:
		err = c.decode(&in.frame)
	}
	c.feedback(at, err != nil, wire.ErrnoOf(err))
	c.ended(at, err)
}

func (c *Call) onAttemptFailed(m *attemptFailed) {
	at := c.attemptFor(m.id)
	if at == nil {
		return
	}
	err := *m.err
	err.Method = c.method
	c.feedback(at, true, err.Code)
	c.ended(at, &err)
}

// ended handles the outcome of attempt at. A success ends the call unless a retry policy asks for
// another try; a failure while the other attempt of a backup pair is pending is absorbed (the
// call waits for that one); otherwise the failure is retried or ends the call.
func (c *Call) ended(at *attempt, err error) {
	at.sock.pending.remove(at.id)
	if err == nil {
		if c.policy == nil || !c.mayRetry() || !c.policy.DoRetry(c.cntl, nil) {
			c.cur = at
			c.finish(nil)
			return
		}
		if c.prev != nil && c.prev != at { // the policy wants another answer: forget the original too
			c.prev.sock.pending.remove(c.prev.id)
		}
		c.prev, c.cur = nil, at
		c.retry()
		return
	}
	if c.prev != nil {
		if at == c.cur {
			c.cur = c.prev
		}
		c.prev = nil
		return
	}
	c.retryOrFinish(err)
}

// mayRetry reports whether the call has quota and time left for another attempt.
func (c *Call) mayRetry() bool {
	return c.retried < c.maxRetry && !c.sys.closed.Load() && (c.deadline.IsZero() || time.Now().Before(c.deadline))
}

// retryOrFinish retries a failed attempt when the policy allows it — brpc's by default: a
// connection failure or an overloaded or stopping server, never a timeout or a bad request — with
// quota and time left; it waits the policy's backoff first when the deadline leaves room for it.
func (c *Call) retryOrFinish(err error) {
	if !c.mayRetry() || !c.retryable(err) {
		c.finish(err)
		return
	}
	c.retry()
}

// retry starts the next attempt, after the policy's backoff if it has one.
func (c *Call) retry() {
	if c.cur != nil {
		c.remember(c.cur.node)
	}
	c.retried++
	if d := c.backoffFor(); d > 0 {
		c.state.Store(callBackingOff)
		l := c.light.Load()
		c.backoff = time.AfterFunc(d, func() { l.Send(msgRetry) })
		return
	}
	c.send()
}

func (c *Call) retryable(err error) bool {
	code := wire.ErrnoOf(err)
	if code == wire.ERPCTIMEDOUT || code == wire.ECANCELED || code == wire.EREJECT {
		return false
	}
	if c.policy != nil {
		return c.policy.DoRetry(c.cntl, err)
	}
	return code.Temporary()
}

// backoffFor returns the policy's backoff when it is shorter than the time left.
func (c *Call) backoffFor() time.Duration {
	b, ok := c.policy.(BackoffPolicy)
	if !ok {
		return 0
	}
	d := b.Backoff(c.cntl)
	if d <= 0 || (!c.deadline.IsZero() && d >= time.Until(c.deadline)) {
		return 0
	}
	return d
}

// backupDelay returns when to send a backup request, or 0 for none: a backup is sent only if it
// would leave before the deadline.
func (c *Call) backupDelay() time.Duration {
	d := c.ch.opts.BackupRequest
	if v, ok := c.cntl.BackupRequest(); ok {
		d = v
	}
	if d <= 0 || (!c.deadline.IsZero() && d >= time.Until(c.deadline)) {
		return 0
	}
	return d
}

// onBackup sends a backup request to another server when the first attempt has not answered in
// time. It uses a retry slot; with none left the call simply keeps waiting for its first attempt
// until the deadline (brpc would end it with EBACKUPREQUEST at this moment, which is not what a
// caller who set a deadline expects).
func (c *Call) onBackup() {
	if c.over || c.prev != nil || c.cur == nil || c.state.Load() != callWaiting || !c.mayRetry() {
		return
	}
	c.prev = c.cur
	c.remember(c.cur.node)
	c.retried++
	c.cntl.backup = true
	c.send()
}

// feedback tells a cluster's balancer, and the server's circuit breaker when the channel enables
// it, how attempt at ended.
func (c *Call) feedback(at *attempt, failed bool, code wire.Errno) {
	if c.ch.opts.EnableCircuitBreaker && at.sock.breaker.feed(code, time.Since(at.sent)) {
		at.sock.sys.as.Root.Send(at.sock.pid, &breakerTripped{isolation: at.sock.breaker.isolationTime()})
	}
	cl := c.ch.cluster
	if cl == nil {
		return
	}
	cl.bal.Feedback(lb.Feedback{Server: at.node, Begin: at.sent, Latency: time.Since(at.sent),
		Failed: failed, Timeout: c.timeout, Retried: c.retried, MaxRetry: c.maxRetry})
}

// remember adds a tried server to the excluded list (at most min(maxRetry, 8), oldest dropped).
func (c *Call) remember(n naming.ServerNode) {
	if c.ch.cluster == nil {
		return
	}
	if k := len(c.tried); k > 0 && c.tried[k-1] == n {
		return
	}
	if limit := min(c.maxRetry, 8); len(c.tried) >= limit && limit > 0 {
		c.tried = c.tried[1:]
	}
	c.tried = append(c.tried, n)
}
