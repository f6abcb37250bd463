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
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// Call is one call in flight or finished: a light actor that owns the call's deadline, its
// attempts and its result. Everything that happens to it — a response, a broken connection, the
// deadline, a cancel — is a message it handles one at a time. It finishes exactly once.
//
// The methods of a Call are safe for concurrent use.
type Call struct {
	sys      *System
	ch       *PlainChannel // the plain engine's channel; nil for a call of another engine
	engine   Engine        // nil: the plain channel's engine
	parent   *Call         // set for a child call, which reports to it
	index    int           // the child's index, reported back to its parent
	target   string        // the channel's target, for errors and Inspect
	onEnd    func(error)
	status   atomic.Pointer[string] // what an engine says it waits for, for Inspect
	server   atomic.Pointer[string] // the server of the current attempt, for Inspect
	light    atomic.Pointer[mailbox.Light]
	method   string
	req      proto.Message
	resp     proto.Message
	cntl     *Controller
	done     func(*Controller)
	finished chan struct{} // closed once the call finished and its done callback returned
	err      error

	// owned by the actor (and by the starting goroutine during the first turn)
	payload    []byte
	payloadBuf *frameBuf // payload's pooled buffer, returned when the call completes
	first      attempt   // storage for the first attempt, which most calls only have
	cur        *attempt  // the attempt waited for; nil before the first
	prev       *attempt  // the original attempt, still pending after a backup request was sent
	timer      *deadlineTimer
	backup     *time.Timer // the backup-request timer
	backoff    *time.Timer // the retry-backoff timer
	policy     RetryPolicy
	stopCtx    func() bool
	begin      time.Time
	armed      time.Time // when the deadline was armed: the first attempt's send time, read once
	local      *string   // the local address of the connection the last answer came on
	deadline   time.Time // zero: none
	inherited  time.Time // a child's nearest ancestor's deadline: sent to servers, not armed
	timeout    time.Duration
	defTO      time.Duration // the channel's timeout, which the Controller's overrides
	maxRetry   int
	retried    int
	tried      []naming.ServerNode // servers already tried, avoided by the balancer
	over       bool

	state atomic.Int32 // for Inspect
}

// attempt is one try of a call on a socket; it is the message that asks the socket actor to
// write the frame.
type attempt struct {
	c     *Call
	light *mailbox.Light
	id    int64
	sock  *socket
	node  naming.ServerNode // the server picked, for a cluster channel
	frame *frameBuf         // handed over to the socket actor, which returns it to the pool
	sent  time.Time
}

// Call states, as Inspect shows them.
const (
	callStarting int32 = iota
	callWaiting
	callAwaitingServers
	callBackingOff
	callDone
)

var callStateNames = [...]string{"starting", "waiting for response", "waiting for the server list", "backing off before a retry", "done"}

// Messages of the call actor that carry no data.
type (
	callTimeout  struct{}
	callCancel   struct{}
	callShutdown struct{}
	callBackup   struct{}
	callRetry    struct{}
	callAbort    struct{ err *wire.Error }
)

var (
	msgTimeout  = &callTimeout{}
	msgCancel   = &callCancel{}
	msgShutdown = &callShutdown{}
	msgBackup   = &callBackup{}
	msgRetry    = &callRetry{}
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

// Abort ends the call with err if it is still in flight, as Cancel does with ECANCELED. A combo
// call stops the sub-calls it no longer needs with it (EPCHANFINISH, ECANCELED, ERPCTIMEDOUT).
func (c *Call) Abort(err *wire.Error) {
	if l := c.light.Load(); l != nil {
		l.Send(&callAbort{err: err})
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

// setDeadline picks the call's deadline: the Controller's timeout or else the channel's, and the
// context's deadline when it is earlier.
func (c *Call) setDeadline(ctx context.Context) {
	c.timeout = c.defTO
	if d, ok := c.cntl.Timeout(); ok {
		c.timeout = d
	}
	if c.timeout >= 0 && c.parent == nil {
		c.deadline = c.begin.Add(c.timeout)
	}
	if d, ok := ctx.Deadline(); ok && (c.deadline.IsZero() || d.Before(c.deadline)) {
		c.deadline, c.timeout = d, d.Sub(c.begin)
	}
	c.cntl.deadline = c.deadline
}

// arm starts the deadline timer and turns a cancel of ctx into a message.
func (c *Call) arm(ctx context.Context, l *mailbox.Light) {
	c.armed = time.Now()
	if !c.deadline.IsZero() {
		c.timer = armDeadline(c.deadline.Sub(c.armed), l)
	}
	if c.engine == nil {
		if d := c.backupDelay(); d > 0 {
			c.backup = time.AfterFunc(d, func() { l.Send(msgBackup) })
		}
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

// Receive handles the call actor's messages: the ends every call has (deadline, cancel,
// shutdown, stop) here, everything else in the call's engine.
func (c *Call) Receive(self *mailbox.Light, msg any) {
	switch m := msg.(type) {
	case *callTimeout:
		c.end(c.errorf(wire.ERPCTIMEDOUT, nil, "Reached timeout=%dms", c.timeout.Milliseconds()))
	case *callCancel:
		c.end(c.errorf(wire.ECANCELED, nil, "Call was cancelled"))
	case *callShutdown:
		c.end(closedError(c.method))
	case *callAbort:
		e := *m.err
		e.Method, e.Addr = c.method, c.target
		c.end(&e)
	case *mailbox.Stopped:
		c.onStopped(m)
	default:
		switch {
		case c.over:
		case c.engine != nil:
			c.engine.Receive(c, msg)
		default:
			c.receivePlain(msg)
		}
	}
}

// end ends the call early with err: at once for the plain engine, when the engine says so for
// another (a combo call first hears from its children).
func (c *Call) end(err *wire.Error) {
	if c.over {
		return
	}
	if c.engine != nil {
		c.engine.End(c, err)
		return
	}
	if err.Code == wire.ERPCTIMEDOUT && c.cur != nil && c.state.Load() == callWaiting {
		c.feedback(c.cur, true, wire.ERPCTIMEDOUT)
	}
	c.finish(err)
}

// onStopped handles the actor's last message. A call stopped before it finished — its handler
// panicked, or its parent or someone holding its PID stopped it — finishes now, so that its
// timers, its pending attempts and its count in the System go with it.
func (c *Call) onStopped(m *mailbox.Stopped) {
	if c.over {
		return
	}
	if m.Panic != nil {
		c.sys.log.Error("troupe: call actor panicked", "method", c.method, "panic", fmt.Sprint(m.Panic), "stack", string(m.Stack))
		c.finish(c.errorf(wire.EINTERNAL, nil, "call actor panicked: %v", m.Panic))
		return
	}
	c.finish(c.errorf(wire.ECANCELED, nil, "Call was stopped"))
}

// errorf makes the call's error with code and a brpc-style text.
func (c *Call) errorf(code wire.Errno, cause error, format string, args ...any) *wire.Error {
	return &wire.Error{Code: code, Text: fmt.Sprintf(format, args...), Method: c.method, Addr: c.target, Err: cause}
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
		c.timer.stop()
		c.timer = nil
	}
	for _, t := range [...]*time.Timer{c.backup, c.backoff} {
		if t != nil {
			t.Stop()
		}
	}
	if c.stopCtx != nil {
		c.stopCtx()
	}
	if c.prev != nil {
		c.prev.sock.pending.remove(c.prev.id)
	}
	if at := c.cur; at != nil {
		at.sock.pending.remove(at.id)
		c.cntl.remote = at.sock.addr
		l := c.local // the connection the last answer came on
		if l == nil {
			l = at.sock.local.Load() // no answer: the socket's latest connection
		}
		if l != nil {
			c.cntl.local = *l
		}
	}
	if c.engine == nil {
		c.cntl.retried = c.retried
	}
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
	if pb := c.payloadBuf; pb != nil {
		c.payload, c.payloadBuf = nil, nil
		putPayload(pb)
	}
	c.err = err
	c.cntl.latency = time.Since(c.begin)
	c.cntl.setResult(err)
	c.state.Store(callDone)
	if entered && c.onEnd != nil {
		c.onEnd(err)
	}
	switch {
	case c.parent != nil || c.done == nil:
	case entered:
		c.sys.goroutine(c.runDone)
	default:
		go c.runDone() // refused before it entered the System, which may be waiting already
	}
	if entered {
		c.sys.leave()
	}
	if c.done == nil || c.parent != nil {
		close(c.finished)
	}
	if c.parent != nil { // after finished is closed, so that the parent reads a settled child
		c.parent.Send(&ChildDone{Index: c.index, Call: c})
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
