// Package actors is troupe's runtime: a [System] that owns a protoactor actor system and every
// goroutine troupe starts, channels whose calls are actors, socket actors that own the
// connections, a baidu_std [Server], and [System.Inspect] to see all of it.
//
// # Calls are actors
//
// A call made with [PlainChannel.Call] or [PlainChannel.Go] is a light actor (package mailbox): a
// process in the protoactor registry with its own PID and a mailbox that handles one message at a
// time on troupe's pooled dispatcher. The goroutine that starts a call takes the actor's first
// turn: it encodes the request, arms the deadline timer, registers the context's cancellation and
// hands the frame to the server's socket actor. From then on everything is a message to the call:
//
//   - a response, delivered by the socket's reader goroutine straight to the call;
//   - a failed attempt (the connection broke), after which the call retries while brpc's policy
//     allows it: a retriable code, retry quota left, time left;
//   - the deadline (ERPCTIMEDOUT, never retried) and a cancel (ECANCELED);
//   - the System's shutdown (ELOGOFF, wrapping [ErrClosed]).
//
// Whichever comes first finishes the call: its timers stop, its Controller is filled, the caller
// or the done callback is released, and the actor leaves the registry. A late response finds no
// one and is dropped without a dead letter. Every call finishes exactly once.
//
// # Sockets are actors
//
// A socket actor owns the one connection to a server (brpc's "single" connection type) that
// every channel of the System shares. It dials on demand, registers each attempt's correlation
// id, appends frames to a buffer and, when its mailbox drains, writes everything queued with one
// syscall — directly when the kernel takes it without blocking, from a goroutine of its own when
// it does not, so the actor never blocks. A broken connection fails every attempt pending on it;
// the next attempt dials again.
//
// # Deadlines and options
//
// A call's deadline is the earliest of its context's deadline and its timeout: the Controller's
// ([Controller.SetTimeout]) or else the channel's ([ChannelOptions.Timeout], brpc's 500 ms by
// default). Options are validated structs in brpc's style: the zero value of a field means brpc's
// default, and a bad value is an error from the constructor that names the field.
//
// # Errors
//
// Errors are [*wire.Error] values carrying brpc's codes: errors.Is(err, wire.ERPCTIMEDOUT),
// errors.Is(err, context.DeadlineExceeded) and errors.As(err, &werr) all work, and
// [wire.ErrnoOf] gives the code of any error.
//
// # Imports and concurrency
//
// Package actors imports wire, mailbox and protoactor-go; no protoactor type appears in its API
// except [SystemOptions.ActorSystem]. Systems, channels, calls and servers are safe for
// concurrent use; a Controller belongs to one call at a time.
package actors
