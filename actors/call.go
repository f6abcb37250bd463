package actors

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/wire"
)

// Call is one call in flight or finished: a light actor that owns the call's deadline, its
// attempts and its result. Everything that happens to it — a response, a broken connection, the
// deadline, a cancel — is a message it handles one at a time. It finishes exactly once.
//
// The methods of a Call are safe for concurrent use.
type Call struct {
	sys      *System
	ch       *PlainChannel
	light    atomic.Pointer[mailbox.Light]
	method   string
	req      proto.Message
	resp     proto.Message
	cntl     *Controller
	done     func(*Controller)
	finished chan struct{} // closed once the call finished and its done callback returned
	err      error
	own      Controller // used when the caller passed no Controller

	// owned by the actor (and by the starting goroutine during the first turn)
	payload  []byte
	att      attempt
	timer    *time.Timer
	stopCtx  func() bool
	begin    time.Time
	deadline time.Time // zero: none
	timeout  time.Duration
	maxRetry int
	retried  int
	over     bool

	state atomic.Int32 // for Inspect
}

// attempt is one try of a call on a socket; it is the message that asks the socket actor to
// write the frame.
type attempt struct {
	c     *Call
	light *mailbox.Light
	id    int64
	sock  *socket
	frame *frameBuf // handed over to the socket actor, which returns it to the pool
	sent  time.Time
}

// Call states, as Inspect shows them.
const (
	callStarting int32 = iota
	callWaiting
	callDone
)

var callStateNames = [...]string{"starting", "waiting for response", "done"}

// Messages of the call actor that carry no data.
type (
	callTimeout  struct{}
	callCancel   struct{}
	callShutdown struct{}
)

var (
	msgTimeout  = &callTimeout{}
	msgCancel   = &callCancel{}
	msgShutdown = &callShutdown{}
)

// attemptFailed tells a call that its attempt's connection failed.
type attemptFailed struct {
	id  int64
	err *wire.Error
}

// Cancel ends the call with ECANCELED if it is still in flight (brpc's StartCancel). Cancelling a
// finished call does nothing; so does a second cancel.
func (c *Call) Cancel() {
	if l := c.light.Load(); l != nil {
		l.Send(msgCancel)
	}
}

// Done returns a channel closed when the call finished and its done callback returned.
func (c *Call) Done() <-chan struct{} { return c.finished }

// Wait waits for the call (and its done callback) and returns its error.
func (c *Call) Wait() error {
	<-c.finished
	return c.err
}

// Err returns the call's error once it finished (after Done is closed), nil for a success.
func (c *Call) Err() error {
	select {
	case <-c.finished:
		return c.err
	default:
		return nil
	}
}

// Controller returns the call's Controller: the caller's, or the call's own when the caller
// passed none. Read it after the call finished.
func (c *Call) Controller() *Controller { return c.cntl }

// Method returns the full method name.
func (c *Call) Method() string { return c.method }

// Join waits until every call finished and its done callback returned: with [Channel.Go] it
// makes brpc's semi-synchronous calls.
func Join(calls ...*Call) {
	for _, c := range calls {
		if c != nil {
			<-c.finished
		}
	}
}

// start makes a call: the starting goroutine takes the call actor's first turn, sends the first
// attempt and hands over to the actor.
func (ch *PlainChannel) start(ctx context.Context, method string, req, resp proto.Message, cntl *Controller, done func(*Controller)) *Call {
	c := &Call{sys: ch.sys, ch: ch, method: method, req: req, resp: resp, cntl: cntl, done: done,
		finished: make(chan struct{}), begin: time.Now()}
	if c.cntl == nil {
		c.cntl = &c.own
	}
	if err := c.cntl.begin(c); err != nil {
		c.finishEarly(err, false)
		return c
	}
	if !ch.sys.enter() {
		c.finishEarly(closedError(method), false)
		return c
	}
	ch.inflight.Add(1)
	if err := c.prepare(ctx); err != nil {
		c.finishEarly(err, true)
		return c
	}
	l := mailbox.SpawnHeld(ch.sys.as, ch.sys.pool, nil, ch.sys.name+"/calls/call", c)
	c.light.Store(l)
	if ch.sys.closed.Load() {
		l.Send(msgShutdown)
	} else if c.cntl.cancelled.Load() {
		l.Send(msgCancel)
	}
	c.arm(ctx, l)
	c.send()
	l.Release()
	return c
}

// prepare checks the call's arguments and encodes the request once for every attempt.
func (c *Call) prepare(ctx context.Context) error {
	if c.ch.closed.Load() {
		return closedError(c.method)
	}
	if err := ctx.Err(); err != nil {
		return c.ctxError(err)
	}
	if c.cntl.cancelled.Load() {
		return c.errorf(wire.ECANCELED, nil, "Call was cancelled before it started")
	}
	if _, _, err := splitMethod(c.method); err != nil {
		return c.errorf(wire.ENOMETHOD, nil, "%s", err.Error())
	}
	if c.req == nil || c.resp == nil {
		return c.errorf(wire.EINVAL, nil, "request and response must be non-nil")
	}
	b, err := proto.MarshalOptions{}.MarshalAppend(nil, c.req)
	if err != nil {
		return c.errorf(wire.EREQUEST, err, "Fail to serialize request")
	}
	if t := c.cntl.compress; t != wire.CompressNone {
		if b, err = wire.Compress(nil, b, t); err != nil {
			return c.errorf(wire.EREQUEST, err, "Fail to compress request")
		}
	}
	c.payload = b
	c.maxRetry = c.ch.opts.MaxRetry
	if n, ok := c.cntl.MaxRetry(); ok {
		c.maxRetry = n
	}
	c.setDeadline(ctx)
	return nil
}

// setDeadline picks the call's deadline: the Controller's timeout or else the channel's, and the
// context's deadline when it is earlier.
func (c *Call) setDeadline(ctx context.Context) {
	c.timeout = c.ch.opts.Timeout
	if d, ok := c.cntl.Timeout(); ok {
		c.timeout = d
	}
	if c.timeout >= 0 {
		c.deadline = c.begin.Add(c.timeout)
	}
	if d, ok := ctx.Deadline(); ok && (c.deadline.IsZero() || d.Before(c.deadline)) {
		c.deadline, c.timeout = d, d.Sub(c.begin)
	}
}

// arm starts the deadline timer and turns a cancel of ctx into a message.
func (c *Call) arm(ctx context.Context, l *mailbox.Light) {
	if !c.deadline.IsZero() {
		c.timer = time.AfterFunc(time.Until(c.deadline), func() { l.Send(msgTimeout) })
	}
	if ctx.Done() != nil {
		c.stopCtx = context.AfterFunc(ctx, func() {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				l.Send(msgTimeout) // the context's deadline is the call's
				return
			}
			l.Send(msgCancel)
		})
	}
}

// send starts an attempt on the channel's socket.
func (c *Call) send() {
	sock := c.ch.sock
	c.att = attempt{c: c, light: c.light.Load(), id: c.sys.nextID.Add(1), sock: sock, frame: getBuf(), sent: time.Now()}
	meta := wire.Meta{
		Service: bytesOf(c.method[:len(c.method)-len(methodName(c.method))-1]),
		Method:  bytesOf(methodName(c.method)), CompressType: c.cntl.compress, CorrelationID: c.att.id,
		RequestID: bytesOf(c.cntl.requestID),
	}
	if id, ok := c.cntl.LogID(); ok {
		meta.LogID = id
	}
	if !c.deadline.IsZero() {
		meta.TimeoutMs = int32(min(max(time.Until(c.deadline).Milliseconds(), 1), 1<<31-1))
	}
	c.att.frame.b = wire.AppendFrame(c.att.frame.b, &meta, c.payload, c.cntl.reqAttachment)
	c.state.Store(callWaiting)
	sock.send(&c.att)
}

func methodName(full string) string {
	for i := len(full) - 1; i >= 0; i-- {
		if full[i] == '.' {
			return full[i+1:]
		}
	}
	return full
}

// bytesOf views s as bytes without copying; the bytes are only read.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Receive handles the call actor's messages.
func (c *Call) Receive(self *mailbox.Light, msg any) {
	switch m := msg.(type) {
	case *inbound:
		c.onResponse(m)
	case *attemptFailed:
		c.onAttemptFailed(m)
	case *callTimeout:
		c.onTimeout()
	case *callCancel:
		c.finish(c.errorf(wire.ECANCELED, nil, "Call was cancelled"))
	case *callShutdown:
		c.finish(closedError(c.method))
	case *mailbox.Stopped:
		c.onStopped(m)
	}
}

func (c *Call) onResponse(in *inbound) {
	defer putInbound(in)
	if c.over || in.id != c.att.id {
		return
	}
	m := &in.frame.Meta
	if m.ErrorCode != 0 {
		err := &wire.Error{Code: wire.Errno(m.ErrorCode), Text: string(m.ErrorText), Method: c.method, Addr: c.att.sock.addr, Remote: true}
		c.retryOrFinish(err)
		return
	}
	if in.err != nil {
		c.finish(c.errorf(wire.ERESPONSE, in.err, "Bad response"))
		return
	}
	c.finish(c.decode(&in.frame))
}

// decode parses a successful response into the caller's message and keeps its attachment.
func (c *Call) decode(f *wire.Frame) error {
	payload := f.Payload
	if t := f.Meta.CompressType; t != wire.CompressNone {
		var err error
		if payload, err = wire.Decompress(nil, payload, t, wire.DefaultMaxBodySize); err != nil {
			return c.errorf(wire.ERESPONSE, err, "Fail to decompress response")
		}
	}
	if err := proto.Unmarshal(payload, c.resp); err != nil {
		return c.errorf(wire.ERESPONSE, err, "Fail to parse response")
	}
	if len(f.Attachment) > 0 {
		c.cntl.respAttachment = append([]byte(nil), f.Attachment...)
	}
	return nil
}

func (c *Call) onAttemptFailed(m *attemptFailed) {
	if c.over || m.id != c.att.id {
		return
	}
	err := *m.err
	err.Method = c.method
	c.retryOrFinish(&err)
}

// retryOrFinish retries a failed attempt when brpc's policy allows it: a retriable code, quota
// left, time left, and the System not shutting down.
func (c *Call) retryOrFinish(err *wire.Error) {
	ok := err.Code.Temporary() && c.retried < c.maxRetry && !c.sys.closed.Load() &&
		(c.deadline.IsZero() || time.Now().Before(c.deadline))
	if !ok {
		c.finish(err)
		return
	}
	c.att.sock.pending.remove(c.att.id)
	c.retried++
	c.send()
}

func (c *Call) onTimeout() {
	err := c.errorf(wire.ERPCTIMEDOUT, nil, "Reached timeout=%dms", c.timeout.Milliseconds())
	c.finish(err)
}

func (c *Call) onStopped(m *mailbox.Stopped) {
	if m.Panic != nil && !c.over {
		c.sys.log.Error("troupe: call actor panicked", "method", c.method, "panic", fmt.Sprint(m.Panic), "stack", string(m.Stack))
		c.finish(c.errorf(wire.EINTERNAL, nil, "call actor panicked: %v", m.Panic))
	}
}

// errorf makes the call's error with code and a brpc-style text.
func (c *Call) errorf(code wire.Errno, cause error, format string, args ...any) *wire.Error {
	return &wire.Error{Code: code, Text: fmt.Sprintf(format, args...), Method: c.method, Addr: c.ch.target, Err: cause}
}

// ctxError is the error of a call whose context ended before it started.
func (c *Call) ctxError(err error) *wire.Error {
	if err == context.DeadlineExceeded {
		return c.errorf(wire.ERPCTIMEDOUT, err, "Context deadline passed before the call started")
	}
	return c.errorf(wire.ECANCELED, err, "Context was cancelled before the call started")
}

// finish ends the call once: it stops the timers, forgets the pending attempt, fills the
// Controller, stops the actor and signals the caller or runs the callback.
func (c *Call) finish(err error) {
	if c.over {
		return
	}
	c.over = true
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stopCtx != nil {
		c.stopCtx()
	}
	if c.att.sock != nil {
		c.att.sock.pending.remove(c.att.id)
		c.cntl.remote = c.att.sock.addr
		if l := c.att.sock.local.Load(); l != nil {
			c.cntl.local = *l
		}
	}
	c.cntl.retried = c.retried
	c.light.Load().Stop()
	c.complete(err, true)
}

// finishEarly ends a call that failed before its actor existed.
func (c *Call) finishEarly(err error, entered bool) {
	c.over = true
	c.complete(err, entered)
}

// complete records the result and releases whoever waits for it; a done callback runs on a
// goroutine of its own, under recover. The callback's goroutine is counted by the System before
// the call leaves it, so that Shutdown waits for it.
func (c *Call) complete(err error, entered bool) {
	c.err = err
	c.cntl.latency = time.Since(c.begin)
	c.cntl.setResult(err)
	c.state.Store(callDone)
	if entered {
		c.ch.record(err)
	}
	switch {
	case c.done == nil:
	case entered:
		c.sys.goroutine(c.runDone)
	default:
		go c.runDone() // refused before it entered the System, which may be waiting already
	}
	if entered {
		c.sys.leave()
	}
	if c.done == nil {
		close(c.finished)
	}
}

func (c *Call) runDone() {
	defer close(c.finished)
	defer func() {
		if r := recover(); r != nil {
			c.sys.log.Error("troupe: done callback panicked", "method", c.method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	c.done(c.cntl)
}
