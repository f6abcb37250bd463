package actors

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
)

// Engine is what a kind of channel does inside its calls' actors, between a call's start and its
// end. A plain channel's calls pick servers and send attempts; a combo channel's start child calls
// on their sub-channels and merge what they answer. The call around the engine gives every kind
// the same things: the deadline, cancellation, the done callback, Join, the Controller, Inspect,
// and finishing exactly once. An engine's methods run one at a time in the call's actor and must
// not block.
type Engine interface {
	// Start begins the call's work, in its first turn.
	Start(c *Call)
	// Receive handles a message the call got that the call itself does not handle: a
	// [*ChildDone] from a child, or a message the engine sent with [Call.Send].
	Receive(c *Call, msg any)
	// End tells the engine the call must end with err: its deadline passed (ERPCTIMEDOUT), it was
	// cancelled (ECANCELED) or the System is shutting down (ELOGOFF). The engine calls
	// [Call.Finish] at once, or once its children have reported.
	End(c *Call, err *wire.Error)
}

// ChildDone tells a parent call that one of its children ended. Call is the child: its Err and
// Controller hold the result.
type ChildDone struct {
	Index int
	Call  *Call
}

// IgnoreDeadLetterLogging: a child may end after its parent.
func (*ChildDone) IgnoreDeadLetterLogging() {}

// Finish ends the call with err, nil for a success. An Engine calls it from its methods; the
// call's children, if any are left, are stopped with it.
func (c *Call) Finish(err error) {
	if err == nil || wire.ErrnoOf(err) != 0 {
		c.finish(err)
		return
	}
	c.finish(c.errorf(wire.EINTERNAL, err, "%v", err))
}

// Send posts msg to the call's actor, whose engine receives it. It is safe from any goroutine;
// after the call finished msg is dropped.
func (c *Call) Send(msg any) {
	if l := c.light.Load(); l != nil {
		l.Send(msg)
	}
}

// Request returns the call's request.
func (c *Call) Request() proto.Message { return c.req }

// Response returns the message the call's answer goes into.
func (c *Call) Response() proto.Message { return c.resp }

// Index returns a child call's index, as its parent gave it.
func (c *Call) Index() int { return c.index }

// Deadline returns the call's deadline and whether it has one (a child has none of its own).
func (c *Call) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

// Errorf makes an error for the call: code, text, the call's method and its channel's target.
func (c *Call) Errorf(code wire.Errno, cause error, format string, args ...any) *wire.Error {
	return c.errorf(code, cause, format, args...)
}

// SetStatus says what the call waits for, in words Inspect shows ("2 of 3 sub-calls pending").
// It is safe from any goroutine.
func (c *Call) SetStatus(s string) { c.status.Store(&s) }
