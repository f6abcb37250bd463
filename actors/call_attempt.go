package actors

import (
	"errors"
	"time"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// send starts an attempt: it picks a server (the channel's one, or one from the cluster's
// snapshot avoiding those already tried) and hands the frame to its socket actor. A cluster with
// no server list yet makes the call wait for one; a failed pick fails the attempt.
func (pc *plainCall) send() {
	c := &pc.call
	sock, node, err := pc.pick()
	if err == errNoListYet {
		pc.state.Store(plainAwaitingServers)
		pc.ch.cluster.post(pc.ch.sys, &awaitList{call: c.Light()})
		return
	}
	if err != nil {
		if pc.prev != nil { // no server for the backup request: keep waiting for the original
			pc.cur, pc.prev = pc.prev, nil
			return
		}
		pc.retryOrFinish(pc.pickError(err))
		return
	}
	if pc.crowded && pc.cur != nil && pc.cur.sock == sock {
		pc.crowdedAgain(sock)
		return
	}
	pc.crowded = false
	at := &pc.first
	if pc.cur != nil {
		at = new(attempt) // an earlier attempt may still be in the socket actor's hands
	}
	now := c.Armed() // the first attempt leaves as the call's deadline is armed
	if pc.state.Load() != plainStarting {
		now = time.Now()
	}
	*at = attempt{c: pc, id: pc.ch.sys.nextID.Add(1), sock: sock, node: node,
		sent: now}
	pc.cur = at
	pc.server.Store(&sock.addr)
	method, cntl := c.Method(), c.Controller()
	meta := wire.Meta{
		Service: bytesOf(method[:len(method)-len(methodName(method))-1]),
		Method:  bytesOf(methodName(method)), CompressType: cntl.CompressType(), CorrelationID: at.id,
		RequestID: bytesOf(cntl.RequestID()), TraceID: cntl.TraceID(), SpanID: cntl.SpanID(),
		ParentSpanID: cntl.ParentSpanID(), UserFields: pc.fields,
	}
	pc.traceAttempt(at, &meta)
	if id, ok := cntl.LogID(); ok {
		meta.LogID = id
	}
	if dl := c.EffectiveDeadline(); !dl.IsZero() {
		meta.TimeoutMs = int32(min(max(dl.Sub(now).Milliseconds(), 1), 1<<31-1))
	}
	att := cntl.RequestAttachment()
	if len(pc.payload)+len(att) > maxPooledBuf/2 {
		at.frame = getBufFor(wire.FrameSize(&meta, pc.payload, att))
	} else {
		at.frame = getBuf()
	}
	at.frame.b = wire.AppendFrame(at.frame.b, &meta, pc.payload, att)
	if lim := pc.ch.opts.MaxBodySize; lim >= 0 && len(at.frame.b)-wire.HeaderSize > lim {
		pc.refuseFrame(at)
		return
	}
	pc.state.Store(plainWaiting)
	sock.send(at)
}

// errNoListYet is pick's answer while a cluster channel has not heard from its naming service.
var errNoListYet = errors.New("no server list yet")

// pick chooses the socket for the next attempt.
func (pc *plainCall) pick() (*socket, naming.ServerNode, error) {
	cl := pc.ch.cluster
	if cl == nil {
		return pc.ch.sock, naming.ServerNode{}, nil
	}
	if pc.ch.stopped.Load() { // only Shutdown stops a channel with calls in flight
		return nil, naming.ServerNode{}, callrt.ClosedError(pc.call.Method())
	}
	snap := cl.snap.Load()
	if snap == nil {
		return nil, naming.ServerNode{}, errNoListYet
	}
	req := lb.Request{Excluded: pc.retry.Tried, Begin: time.Now()}
	req.Code, req.HasCode = pc.call.Controller().RequestCode()
	i, err := snap.picker.Pick(&req)
	if err != nil {
		return nil, naming.ServerNode{}, err
	}
	return snap.socks[i], snap.servers[i].ServerNode, nil
}

// pickError gives a balancer's refusal the call's method and channel.
func (pc *plainCall) pickError(err error) *wire.Error {
	var we *wire.Error
	if errors.As(err, &we) {
		e := *we
		e.Method = pc.call.Method()
		if e.Addr == "" {
			e.Addr = pc.ch.target
		}
		return &e
	}
	return pc.call.Errorf(wire.ErrnoOf(err), err, "Fail to select a server")
}

// attemptFor returns the pending attempt with correlation id, or nil.
func (pc *plainCall) attemptFor(id int64) *attempt {
	switch {
	case pc.cur != nil && pc.cur.id == id:
		return pc.cur
	case pc.prev != nil && pc.prev.id == id:
		return pc.prev
	}
	return nil
}

func (pc *plainCall) onResponse(in *inbound) {
	defer putInbound(in)
	at := pc.attemptFor(in.id)
	if at == nil {
		return
	}
	at.answered = true
	m := &in.frame.Meta
	pc.local = in.local
	pc.call.Controller().SetResponseUserFields(m.UserFields)
	var err error
	switch {
	case m.ErrorCode != 0:
		err = &wire.Error{Code: wire.Errno(m.ErrorCode), Text: string(m.ErrorText), Method: pc.call.Method(), Addr: at.sock.addr, Remote: true}
	case in.err != nil:
		err = pc.call.Errorf(wire.ERESPONSE, in.err, "Bad response")
	default:
		err = pc.decode(&in.frame)
	}
	pc.feedback(at, err != nil, wire.ErrnoOf(err))
	pc.ended(at, err)
}

func (pc *plainCall) onAttemptFailed(m *attemptFailed) {
	at := pc.attemptFor(m.id)
	if at == nil {
		return
	}
	err := *m.err
	err.Method = pc.call.Method()
	pc.crowded = err.Code == wire.EOVERCROWDED
	pc.feedback(at, true, err.Code)
	pc.ended(at, &err)
}

// ended handles the outcome of attempt at. A success ends the call unless a retry policy asks for
// another try; a failure while the other attempt of a backup pair is pending is absorbed (the
// call waits for that one); otherwise the failure is retried or ends the call.
func (pc *plainCall) ended(at *attempt, err error) {
	endAttemptSpan(at, err)
	if !at.answered {
		at.sock.pending.remove(at.id)
	}
	if err == nil {
		if !pc.retry.RetriesSuccess(&pc.call) {
			if o := pc.cur; o != nil && o != at { // a backup pair's other attempt, no longer waited for
				o.sock.pending.remove(o.id)
				endAttemptSpan(o, nil)
			}
			pc.cur = at
			pc.call.Finish(nil)
			return
		}
		if pc.prev != nil && pc.prev != at { // the policy wants another answer: forget the original too
			pc.prev.sock.pending.remove(pc.prev.id)
			endAttemptSpan(pc.prev, nil)
		}
		pc.prev, pc.cur = nil, at
		pc.next()
		return
	}
	if pc.prev != nil {
		if at == pc.cur {
			pc.cur = pc.prev
		}
		pc.prev = nil
		return
	}
	pc.retryOrFinish(err)
}

// retryOrFinish retries a failed attempt when the policy allows it — brpc's by default: a
// connection failure or an overloaded or stopping server, never a timeout or a bad request — with
// quota and time left; it waits the policy's backoff first when the deadline leaves room for it.
func (pc *plainCall) retryOrFinish(err error) {
	if !pc.retry.Retryable(&pc.call, err) || pc.crowdedAlone(err) {
		pc.call.Finish(err)
		return
	}
	pc.next()
}

// next starts the next attempt, after the policy's backoff if it has one.
func (pc *plainCall) next() {
	if pc.cur != nil {
		pc.remember(pc.cur.node)
	}
	pc.retry.Done++
	pc.retried.Store(int32(pc.retry.Done))
	if d := pc.retry.Wait(&pc.call); d > 0 {
		pc.state.Store(plainBackingOff)
		l := pc.call.Light()
		pc.backoff = time.AfterFunc(d, func() { l.Send(msgRetry) })
		return
	}
	pc.send()
}

// onBackup sends a backup request to another server when the first attempt has not answered in
// time. It uses a retry slot; with none left the call simply keeps waiting for its first attempt
// until the deadline (brpc would end it with EBACKUPREQUEST at this moment, which is not what a
// caller who set a deadline expects). A backup policy's DoBackup, asked last, may keep it back.
func (pc *plainCall) onBackup() {
	if pc.call.Over() || pc.prev != nil || pc.cur == nil || pc.state.Load() != plainWaiting || !pc.retry.Left(&pc.call) {
		return
	}
	if !pc.retry.SendBackup(&pc.call) {
		return
	}
	pc.prev = pc.cur
	pc.remember(pc.cur.node)
	pc.retry.Done++
	pc.retried.Store(int32(pc.retry.Done))
	pc.call.Controller().SetBackupSent()
	pc.send()
}

// feedback tells a cluster's balancer, and the server's circuit breaker when the channel enables
// it, how attempt at ended.
func (pc *plainCall) feedback(at *attempt, failed bool, code wire.Errno) {
	if pc.ch.opts.EnableCircuitBreaker && at.sock.breaker.feed(code, time.Since(at.sent)) {
		at.sock.sys.as.Root.Send(at.sock.pid, &breakerTripped{isolation: at.sock.breaker.isolationTime()})
	}
	cl := pc.ch.cluster
	if cl == nil {
		return
	}
	cl.bal.Feedback(lb.Feedback{Server: at.node, Begin: at.sent, Latency: time.Since(at.sent),
		Failed: failed, Timeout: pc.call.Timeout(), Retried: pc.retry.Done, MaxRetry: pc.retry.Max})
}

// remember adds a tried server of a cluster to the list its balancer avoids.
func (pc *plainCall) remember(n naming.ServerNode) {
	if pc.ch.cluster != nil {
		pc.retry.Remember(n)
	}
}
