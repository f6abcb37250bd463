package callrt

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/wire"
)

// Engine is what a kind of channel does inside its calls' actors, between a call's start and its
// end. A plain channel's engine picks servers and sends attempts; a combo channel's starts child
// calls on its sub-channels and merges what they answer. The [Call] around the engine gives every
// kind the same things: the deadline, cancellation, the done callback, Join, the Controller,
// Inspect, and finishing exactly once. An engine's methods run one at a time, in the call's actor
// (Prepare on the starting goroutine, before the actor exists), and must not block.
type Engine interface {
	// Prepare checks and readies the call once it entered the System and has its deadline, on the
	// goroutine that starts it. An error ends the call at once, without an actor.
	Prepare(c *Call) error
	// Start begins the call's work, in its first turn.
	Start(c *Call)
	// Receive handles a message the call itself does not handle: a [*ChildDone] from a child,
	// or a message the engine sent with [Call.Send].
	Receive(c *Call, msg any)
	// End tells the engine the call must end with err: its deadline passed (ERPCTIMEDOUT), it
	// was cancelled (ECANCELED), aborted by its parent, or the System is shutting down (ELOGOFF).
	// The engine calls [Call.Finish] at once, or once its children have reported.
	End(c *Call, err *wire.Error)
	// Release is called once as the call finishes, by whatever path, if Prepare was called: the
	// engine stops its timers, lets go of what it holds and records its results in the
	// Controller.
	Release(c *Call)
}

// Statuser is an Engine that says what its call waits for, for Inspect, without being asked to
// store it on every change. Status is called from any goroutine.
type Statuser interface {
	Status() string
}

// RetryCounter is an Engine that says, for Inspect, how many attempts its call made after the
// first. Retries is called from any goroutine.
type RetryCounter interface {
	Retries() int
}

// ChildDone tells a parent call that one of its children ended. Call is the child: its Err and
// Controller hold the result.
type ChildDone struct {
	Index int
	Call  *Call
}

// IgnoreDeadLetterLogging: a child may end after its parent.
func (*ChildDone) IgnoreDeadLetterLogging() {}

// Finish ends the call with err, nil for a success; an error without a brpc code becomes
// EINTERNAL. An Engine calls it from its methods; the call's children, if any are left, are
// stopped with it.
func (c *Call) Finish(err error) {
	if err == nil || wire.ErrnoOf(err) != 0 {
		c.finish(err)
		return
	}
	c.finish(c.Errorf(wire.EINTERNAL, err, "%v", err))
}

// Send posts msg to the call's actor, whose engine receives it. It is safe from any goroutine;
// after the call finished msg is dropped.
func (c *Call) Send(msg any) {
	if l := c.light.Load(); l != nil {
		l.Send(msg)
	}
}

// Abort ends the call with err if it is still in flight, as Cancel does with ECANCELED. A combo
// call stops the sub-calls it no longer needs with it (EPCHANFINISH, ECANCELED, ERPCTIMEDOUT).
func (c *Call) Abort(err *wire.Error) {
	if l := c.light.Load(); l != nil {
		l.Send(&callAbort{err: err})
	}
}

// Errorf makes an error for the call: code, text, the call's method and its channel's target.
func (c *Call) Errorf(code wire.Errno, cause error, format string, args ...any) *wire.Error {
	return c.errorf(code, cause, format, args...)
}

// SetStatus says what the call waits for, in words Inspect shows ("2 of 3 sub-calls pending").
// It is safe from any goroutine.
func (c *Call) SetStatus(s string) { c.status.Store(&s) }

// Request returns the call's request.
func (c *Call) Request() proto.Message { return c.req }

// Response returns the message the call's answer goes into.
func (c *Call) Response() proto.Message { return c.resp }

// Index returns a child call's index, as its parent gave it.
func (c *Call) Index() int { return c.index }

// Target returns the name of the call's channel.
func (c *Call) Target() string { return c.target }

// Runtime returns the Runtime the call runs in.
func (c *Call) Runtime() *Runtime { return c.rt }

// Deadline returns the call's deadline and whether it has one (a child has none of its own).
func (c *Call) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// EffectiveDeadline returns the call's deadline, or the nearest ancestor's for a child; zero for
// none.
func (c *Call) EffectiveDeadline() time.Time {
	if !c.deadline.IsZero() {
		return c.deadline
	}
	return c.inherited
}

// Timeout returns the call's timeout, as its deadline was computed (negative: none).
func (c *Call) Timeout() time.Duration { return c.timeout }

// Armed returns when the call's deadline was armed, just before its engine's Start: a plain
// call's first attempt takes it as its send time instead of reading the clock again.
func (c *Call) Armed() time.Time { return monoBase.Add(time.Duration(c.armed)) }

// Over reports whether the call finished.
func (c *Call) Over() bool { return c.over }

// Light returns the call's actor; nil before it exists.
func (c *Call) Light() *mailbox.Light { return c.light.Load() }

// Began returns when the call started.
func (c *Call) Began() time.Time { return c.begin }
