package actors

import (
	"context"
	"sync"
	"time"
)

type serverCallKey struct{}

// handlerCtx is a handler's context: the connection's, carrying the ServerCall and the deadline
// the request's timeout_ms implies (one allocation for all of it).
//
// A request without timeout_ms gets the connection's context as it is: done when the connection
// closes (which Shutdown does when its own ctx ends first). With a deadline, the context that
// also ends at it is made only when something asks: Done, or Err or Value once the deadline has
// passed or the connection is gone. A handler that never looks at its context so costs no timer,
// and one that does costs a single context.WithDeadline, whose parent is the connection's
// context. The deadline context is cancelled when the handler returns.
type handlerCtx struct {
	context.Context // the connection's
	call            ServerCall
	inflated        int64     // bytes of the decompressed request counted in the memory budget
	deadline        time.Time // when the client's timeout_ms runs out; zero: it sent none
	trace           serverTrace

	mu     sync.Mutex
	timed  context.Context // context.WithDeadline(Context, deadline), once made
	cancel context.CancelFunc
	over   bool // the handler returned
}

// Deadline returns the deadline the request's timeout_ms implies, if it had one.
func (h *handlerCtx) Deadline() (time.Time, bool) {
	if h.deadline.IsZero() {
		return h.Context.Deadline()
	}
	return h.deadline, true
}

// Done returns a channel closed when the deadline passes or the connection's context ends.
func (h *handlerCtx) Done() <-chan struct{} {
	if h.deadline.IsZero() {
		return h.Context.Done()
	}
	return h.timedCtx().Done()
}

// Err returns context.DeadlineExceeded once the deadline passed, context.Canceled once the
// connection's context ended, and nil before.
func (h *handlerCtx) Err() error {
	if h.deadline.IsZero() {
		return h.Context.Err()
	}
	if t := h.ended(); t != nil {
		return t.Err()
	}
	return nil
}

// Value returns the ServerCall for serverCallKey, and the connection context's values otherwise
// (through the deadline context once it is made, so that contexts derived from this one hang
// on it directly and context.Cause sees its cause).
func (h *handlerCtx) Value(key any) any {
	if _, ok := key.(serverCallKey); ok {
		return &h.call
	}
	if !h.deadline.IsZero() {
		if t := h.ended(); t != nil {
			return t.Value(key)
		}
	}
	return h.Context.Value(key)
}

// ended returns the deadline context if it is made, or makes it when the deadline has passed or
// the connection's context ended, so that Err and context.Cause never change their answer once
// it is given; otherwise it returns nil.
func (h *handlerCtx) ended() context.Context {
	h.mu.Lock()
	t := h.timed
	h.mu.Unlock()
	if t != nil || (h.Context.Err() == nil && time.Now().Before(h.deadline)) {
		return t
	}
	return h.timedCtx()
}

// timedCtx returns the deadline context, making it on the first call.
func (h *handlerCtx) timedCtx() context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.timed == nil {
		h.timed, h.cancel = context.WithDeadline(h.Context, h.deadline)
		if h.over {
			h.cancel()
		}
	}
	return h.timed
}

// release ends the deadline context when the handler returns, which stops its timer and
// detaches it from the connection's context.
func (h *handlerCtx) release() {
	if h.deadline.IsZero() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.over = true
	if h.cancel != nil {
		h.cancel()
	}
}
