package callrt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/internal/stats"
	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/wire"
)

// DefaultTimeout is the timeout of a call whose channel, Controller and context set none (brpc's
// 500 ms).
const DefaultTimeout = 500 * time.Millisecond

// Call is one call in flight or finished: a light actor that owns the call's deadline and result,
// around the [Engine] of its channel. Everything that happens to it — an answer, a deadline, a
// cancel, a child's end — is a message it handles one at a time. It finishes exactly once.
// actors.Call is defined on it and exports what a caller may do; the rest is for engines.
type Call struct {
	rt       *Runtime
	engine   Engine
	parent   *Call // set for a child call, which reports to it
	index    int   // the child's index, reported back to its parent
	target   string
	onEnd    func(*Controller, error)
	stats    *stats.Method                 // the method's record in its channel's Spec.Stats; nil: none
	status   atomic.Pointer[string]        // what an engine says it waits for, for Inspect
	light    atomic.Pointer[mailbox.Light] // &actor once it is spawned
	actor    mailbox.Light
	method   string
	req      proto.Message
	resp     proto.Message
	cntl     *Controller
	done     any           // an asynchronous call's callback, run by Runtime.callDone
	finished chan struct{} // closed once the call finished and its done callback returned; see token
	err      error
	span     trace.Span // the call's span; nil when its Runtime traces nothing

	// owned by the actor (and by the starting goroutine during the first turn)
	dlAt      int64 // the deadline, in mono's time (guarded by the deadlines' shard)
	stopCtx   func() bool
	begin     time.Time
	armed     int64     // when the deadline was armed, in mono's time
	deadline  time.Time // zero: none
	inherited time.Time // a child's nearest ancestor's deadline: sent to servers, not armed
	timeout   time.Duration
	defTO     time.Duration // the channel's timeout, which the Controller's overrides
	over      bool
	prepared  bool
	// reached: the deadline's alarm or the context's callback may still send to the finished
	// call, which therefore cannot be reused (Reusable).
	reached bool
	token   bool  // finished is the starter's Spec.Finished: the actor's turns, or one token, instead of a close
	dlSlot  int32 // the call's index in its deadlines' shard plus one; 0: not there (guarded by the shard)

	state atomic.Int32 // for Inspect

	childDone ChildDone // a child's report to its parent, sent once as it ends
}

// Call states, as Inspect shows them.
const (
	callStarting int32 = iota
	callRunning
	callDone
)

// Spec describes a call for [Runtime.Start].
type Spec struct {
	Method     string
	Request    proto.Message
	Response   proto.Message
	Controller *Controller // nil: the call uses one of its own
	// Done is an asynchronous call's callback (a func(*actors.Controller)), or nil; the
	// Runtime's callDone runs it.
	Done   any
	Engine Engine
	// Timeout is the channel's timeout, used unless the Controller has one; negative for none,
	// 0 for DefaultTimeout. A child call has no deadline of its own: its parent's governs.
	Timeout time.Duration
	// Target names the channel in errors and in Inspect.
	Target string
	// Parent, when set, makes the call Parent's child: it lives under Parent's actor, stops
	// with it, has no deadline or context of its own, runs no Done, and tells Parent it ended
	// with a [*ChildDone] carrying Index.
	Parent *Call
	Index  int
	// OnEnd, if set, is called once with the call's error as it ends, also when it could not
	// start, after its Controller holds the result and the latency; channels count calls and
	// feed their backup policy with it. It must not block.
	OnEnd func(*Controller, error)
	// Stats, when set, is the channel's per-method records: the call counts itself in flight
	// as it starts and records its end there (internal/stats).
	Stats *stats.Table
	// Subs, when positive, is the number of sub-calls the call's Controller reports from the
	// moment the call is made, each nil until it starts, also when the call fails before it
	// starts (brpc's parallel channel sets its sub count first thing). A Controller reused
	// without Reset is left alone.
	Subs int
	// Call, when set, is where the call lives, as Start's c: an engine that holds its Call
	// inline saves an allocation. Start's c, when not nil, takes precedence.
	Call *Call
	// Finished, when set for a call without a parent or a Done, is an empty channel of capacity
	// 1 that the call uses instead of a channel it makes and closes: a synchronous caller that
	// reuses its calls' memory reuses the channel too. The call's actor is then owned by the
	// caller ([mailbox.SpawnOwnedIn]): Finished signals its turns, and Wait, which must be
	// called once and soon after Start returns, runs them on the caller's goroutine until the
	// actor stopped. So the goroutine that reads the answer only hands it over, and the caller,
	// which that goroutine wakes in any case, decodes it and finishes the call. A call that
	// failed before its actor existed sends one value on Finished instead.
	Finished chan struct{}
}

// Messages of the call actor.
type (
	callTimeout  struct{}
	callCancel   struct{}
	callShutdown struct{}
	callAbort    struct{ err *wire.Error }
)

var (
	msgTimeout  = &callTimeout{}
	msgCancel   = &callCancel{}
	msgShutdown = &callShutdown{}
)

// Start starts a call: it checks what every call needs, gives the call its deadline,
// cancellation and actor, and runs the engine's Start in the call's first turn on the calling
// goroutine. c is where the call lives (a plain channel's engine holds its Call inline, saving an
// allocation); nil makes a new one. A call that cannot start (a cancelled context, a reused
// Controller, a closed System, a bad argument) finishes at once with its error; Done then runs on
// another goroutine. ctx is ignored for a child call.
func (rt *Runtime) Start(ctx context.Context, c *Call, s *Spec) *Call {
	if c == nil {
		c = s.Call
	}
	if c == nil {
		c = new(Call)
	}
	c.rt, c.engine, c.method, c.req, c.resp = rt, s.Engine, s.Method, s.Request, s.Response
	c.cntl, c.done, c.parent, c.index, c.target, c.onEnd = s.Controller, s.Done, s.Parent, s.Index, s.Target, s.OnEnd
	c.defTO = s.Timeout
	if c.defTO == 0 {
		c.defTO = DefaultTimeout
	}
	if c.parent != nil {
		c.defTO, c.done, ctx = -1, nil, context.Background()
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if c.token = s.Finished != nil && c.done == nil && c.parent == nil; c.token {
		c.finished = s.Finished
	} else {
		c.finished = make(chan struct{})
	}
	c.begin = time.Now()
	c.beginStats(s.Stats)
	if c.cntl == nil {
		c.cntl = new(Controller)
	}
	if err := c.cntl.begin(c); err != nil {
		c.finishEarly(err, false)
		return c
	}
	c.startSpan(ctx)
	if s.Subs > 0 {
		c.cntl.SetSubs(make([]*Controller, s.Subs))
	}
	if !rt.enter() {
		c.finishEarly(ClosedError(c.method), false)
		return c
	}
	if err := c.prepare(ctx); err != nil {
		c.finishEarly(err, true)
		return c
	}
	var parent *mailbox.Light
	if c.parent != nil {
		parent = c.parent.light.Load()
		c.inherited = c.parent.EffectiveDeadline()
	}
	var l *mailbox.Light
	if c.token {
		// A synchronous call: its caller waits in Wait and runs the actor's turns there.
		l = mailbox.SpawnOwnedIn(&c.actor, rt.lights, c.finished, parent, c.prefix(), c)
	} else {
		l = mailbox.SpawnHeldIn(&c.actor, rt.lights, rt.pool, parent, c.prefix(), c)
	}
	c.light.Store(l)
	if rt.closed.Load() {
		l.Send(msgShutdown)
	} else if c.cntl.cancelled.Load() {
		l.Send(msgCancel)
	}
	c.arm(ctx, l)
	c.state.Store(callRunning)
	c.engine.Start(c)
	l.Release()
	return c
}

// Refuse returns a call that failed with err before it could start, on a channel that cannot take
// calls at all (a zero value, one made without its System). Unlike a call refused by [Runtime.Start],
// its done callback has run, on the calling goroutine, when Refuse returns; run runs it as the
// Runtime's callDone would.
func Refuse(s *Spec, err *wire.Error, run func(done any, c *Controller)) *Call {
	c := &Call{method: s.Method, target: s.Target, cntl: s.Controller, finished: make(chan struct{}),
		begin: time.Now(), over: true}
	if c.cntl == nil {
		c.cntl = new(Controller)
	}
	if err.Method == "" {
		err.Method = s.Method
	}
	c.err = err
	c.cntl.setResult(err)
	c.state.Store(callDone)
	if s.Done != nil && s.Parent == nil {
		func() {
			defer func() { _ = recover() }() // nothing to log to: the channel has no System
			run(s.Done, c.cntl)
		}()
	}
	close(c.finished)
	if s.Parent != nil {
		s.Parent.Send(&ChildDone{Index: s.Index, Call: c})
	}
	return c
}

func (c *Call) prefix() string {
	if c.parent != nil {
		return "sub"
	}
	return "call"
}

// prepare checks what every call needs, gives it a deadline and lets its engine prepare.
func (c *Call) prepare(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return c.ctxError(err)
	}
	if c.cntl.cancelled.Load() {
		return c.errorf(wire.ECANCELED, nil, "Call was cancelled before it started")
	}
	if err := CheckMethod(c.method); err != nil {
		return c.errorf(wire.ENOMETHOD, nil, "%s", err.Error())
	}
	if err := checkMessages(c.req, c.resp); err != nil {
		return c.errorf(wire.EINVAL, nil, "%s", err.Error())
	}
	if c.engine == nil {
		return c.errorf(wire.EINVAL, nil, "the channel has no engine")
	}
	c.setDeadline(ctx)
	c.prepared = true
	return c.engine.Prepare(c)
}

// CheckMethod checks that full is "package.Service.Method" (or "Service.Method").
func CheckMethod(full string) error {
	i := strings.LastIndexByte(full, '.')
	if i <= 0 || i == len(full)-1 {
		return fmt.Errorf("troupe: method name %q is not of the form Service.Method", full)
	}
	return nil
}

// checkMessages refuses a nil request or response, typed nil pointers included: the response
// could not be written into.
func checkMessages(req, resp proto.Message) error {
	switch {
	case req == nil || !req.ProtoReflect().IsValid():
		return errors.New("the request is nil")
	case resp == nil || !resp.ProtoReflect().IsValid():
		return errors.New("the response is nil")
	}
	return nil
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

// arm adds the call's deadline to the Runtime's and turns a cancel of ctx into a message.
func (c *Call) arm(ctx context.Context, l *mailbox.Light) {
	now := time.Now()
	c.armed = mono(now)
	if !c.deadline.IsZero() {
		at := c.armed + int64(c.deadline.Sub(now))
		if at < c.armed && c.deadline.After(now) {
			at = math.MaxInt64 // centuries away: Sub saturated, the sum overflowed
		}
		c.rt.deadlines.add(c, at)
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

// Receive handles the call actor's messages: the ends every call has (deadline, cancel, abort,
// shutdown, stop) here, everything else in the call's engine.
func (c *Call) Receive(_ *mailbox.Light, msg any) {
	switch m := msg.(type) {
	case *callTimeout:
		c.end(c.errorf(wire.ERPCTIMEDOUT, nil, "Reached timeout=%dms", c.timeout.Milliseconds()))
	case *callCancel:
		c.end(c.errorf(wire.ECANCELED, nil, "Call was cancelled"))
	case *callShutdown:
		c.end(ClosedError(c.method))
	case *callAbort:
		e := *m.err
		e.Method, e.Addr = c.method, c.target
		c.end(&e)
	case *mailbox.Stopped:
		c.onStopped(m)
	default:
		if !c.over {
			c.engine.Receive(c, msg)
		}
	}
}

// end asks the engine to end the call early with err.
func (c *Call) end(err *wire.Error) {
	if !c.over {
		c.engine.End(c, err)
	}
}

// onStopped handles the actor's last message. A call stopped before it finished — its handler
// panicked, or its parent or someone holding its PID stopped it — finishes now, so that its
// timers, its engine's resources and its count in the System go with it.
func (c *Call) onStopped(m *mailbox.Stopped) {
	if c.over {
		return
	}
	if m.Panic != nil {
		c.rt.log.Error("troupe: call actor panicked", "method", c.method, "panic", fmt.Sprint(m.Panic), "stack", string(m.Stack))
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

// finish ends the call once: it stops the timers, lets the engine release what it holds, stops
// the actor and signals the caller or runs the callback.
func (c *Call) finish(err error) {
	if c.over {
		return
	}
	c.over = true
	if !c.deadline.IsZero() && !c.rt.deadlines.remove(c) {
		c.reached = true
	}
	if c.stopCtx != nil && !c.stopCtx() {
		c.reached = true
	}
	c.engine.Release(c)
	c.light.Load().Stop()
	c.complete(err, true)
}

// finishEarly ends a call that failed before its actor existed.
func (c *Call) finishEarly(err error, entered bool) {
	c.over = true
	if c.prepared {
		c.engine.Release(c)
	}
	c.complete(err, entered)
}

// complete records the result and releases whoever waits for it; a done callback runs on a
// goroutine of its own, under recover. The callback's goroutine is counted by the Runtime before
// the call leaves it, so that Shutdown waits for it.
func (c *Call) complete(err error, entered bool) {
	c.err = err
	c.cntl.latency = time.Since(c.begin)
	c.cntl.setResult(err)
	c.endSpan(err)
	c.state.Store(callDone)
	c.endStats()
	if c.onEnd != nil {
		c.onEnd(c.cntl, err)
	}
	switch {
	case c.parent != nil || c.done == nil:
	case entered:
		c.rt.Goroutine(c.runDone)
	default:
		go c.runDone() // refused before it entered the System, which may be waiting already
	}
	if entered {
		c.rt.leave()
	}
	switch {
	case c.owned() != nil:
		// The caller runs the actor's turns, this one included, until the actor stopped.
	case c.token:
		select {
		case c.finished <- struct{}{}: // empty until this, the call's one send
		default:
		}
	case c.done == nil || c.parent != nil:
		close(c.finished)
	}
	if c.parent != nil { // after finished is closed, so that the parent reads a settled child
		c.childDone = ChildDone{Index: c.index, Call: c}
		c.parent.Send(&c.childDone)
	}
}

func (c *Call) runDone() {
	defer close(c.finished)
	defer func() {
		if r := recover(); r != nil {
			c.rt.log.Error("troupe: done callback panicked", "method", c.method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	c.rt.callDone(c.done, c.cntl)
}

// Reusable reports, for a call that finished (Wait returned), whether its memory may be reused
// for another call: nothing the Runtime handed a pointer to it can still reach it. It must be
// a call without a parent or a done callback, whose caller, holding the only other pointer to
// it, asks once. Its Controller lets go of it here (a later StartCancel is a no-op, as for any
// finished call). The engine must check its own senders: attempts, timers.
func (c *Call) Reusable() bool {
	// The actor first: once it finished stopping, the call's last turn is over and its fields
	// are settled.
	if l := c.light.Load(); l == nil || !l.Reusable() {
		return false
	}
	if c.parent != nil || c.done != nil || c.reached {
		return false
	}
	// StartCancel marks the Controller cancelled before it loads the call: either it sees nil
	// from here on, or the mark is seen below and the call, maybe still to be sent a cancel,
	// is left alone.
	if !c.cntl.call.CompareAndSwap(c, nil) {
		return false
	}
	return !c.cntl.cancelled.Load()
}

// Cancel ends the call with ECANCELED if it is still in flight (brpc's StartCancel).
func (c *Call) Cancel() {
	if l := c.light.Load(); l != nil {
		l.Send(msgCancel)
	}
}

// zeroCallError is what a Call that was never started answers: a zero value a user declared.
func zeroCallError() *wire.Error {
	return wire.Errorf(wire.EINVAL, "the Call was not started by a channel")
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Done returns a channel closed when the call finished and its done callback returned (at once
// for a Call no channel started).
func (c *Call) Done() <-chan struct{} {
	if c.finished == nil {
		return closedChan
	}
	return c.finished
}

// Wait waits for the call (and its done callback) and returns its error. A call started with
// Spec.Finished is waited for once only, and runs its actor's turns meanwhile.
func (c *Call) Wait() error {
	if c.finished == nil {
		return zeroCallError()
	}
	if l := c.owned(); l != nil {
		l.RunTurns(c.finished)
		return c.err
	}
	<-c.finished
	return c.err
}

// owned returns the call's actor when its caller runs its turns (Spec.Finished, and the actor
// was spawned), nil otherwise.
func (c *Call) owned() *mailbox.Light {
	if !c.token {
		return nil
	}
	return c.light.Load()
}

// Err returns the call's error once it finished, nil before and for a success.
func (c *Call) Err() error {
	if c.finished == nil {
		return zeroCallError()
	}
	select {
	case <-c.finished:
		return c.err
	default:
		return nil
	}
}

// Controller returns the call's Controller; for a Call no channel started, a Controller that
// holds its EINVAL error.
func (c *Call) Controller() *Controller {
	if c.cntl == nil {
		cntl := new(Controller)
		cntl.setResult(zeroCallError())
		return cntl
	}
	return c.cntl
}

// Method returns the full method name.
func (c *Call) Method() string { return c.method }
