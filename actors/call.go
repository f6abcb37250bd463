package actors

import (
	"github.com/troupe-rpc/troupe/internal/callrt"
)

// Call is one call in flight or finished, of any channel: a light actor that owns the call's
// deadline, its attempts or sub-calls, and its result. Everything that happens to it — a
// response, a broken connection, the deadline, a cancel — is a message it handles one at a time.
// It finishes exactly once. [Channel.Go] returns it.
//
// The methods of a Call are safe for concurrent use. A Call's zero value is not a call: Wait and
// Err return EINVAL, Done is closed.
type Call callrt.Call

func (c *Call) rt() *callrt.Call { return (*callrt.Call)(c) }

// Cancel ends the call with ECANCELED if it is still in flight (brpc's StartCancel). Cancelling a
// finished call does nothing; so does a second cancel.
func (c *Call) Cancel() { c.rt().Cancel() }

// Done returns a channel closed when the call finished and its done callback returned.
func (c *Call) Done() <-chan struct{} { return c.rt().Done() }

// Wait waits for the call (and its done callback) and returns its error.
func (c *Call) Wait() error { return c.rt().Wait() }

// Err returns the call's error once it finished (after Done is closed), nil for a success and
// while the call is in flight.
func (c *Call) Err() error { return c.rt().Err() }

// Controller returns the call's Controller: the caller's, or the call's own when the caller
// passed none. Read it after the call finished.
func (c *Call) Controller() *Controller { return (*Controller)(c.rt().Controller()) }

// Method returns the full method name.
func (c *Call) Method() string { return c.rt().Method() }

// Join waits until every call finished and its done callback returned: with [Channel.Go] it
// makes brpc's semi-synchronous calls. nil calls are skipped.
func Join(calls ...*Call) {
	for _, c := range calls {
		if c != nil {
			<-c.Done()
		}
	}
}
