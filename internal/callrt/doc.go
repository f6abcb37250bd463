// Package callrt is the call runtime that package actors and package combo share, and that users
// never see: the lifecycle every call has (its light actor, deadline, cancellation, done callback,
// Controller, finishing exactly once), the [Engine] contract through which a kind of channel does
// its calls' work, child calls and the nesting of channels ([ChildStarter]), the retry and
// backup-request rules the plain and the selective channel share ([Retry]), and the per-System
// [Runtime] (dispatcher, call registry, owned goroutines, naming watches).
//
// The public types are defined on these: actors.Call is a [Call], actors.Controller a
// [Controller], with the methods a caller may use; engines convert between them freely, users
// cannot. A System embeds a [Link] and every channel a [Nest] under unexported names, so that
// [Of] and [ChildStarter] reach what they hold without any exported method.
//
// A call without a parent or a done callback may be made again in the memory of a finished one
// once [Call.Reusable] says nothing the Runtime handed it out to (its deadline's alarm, its
// context's callback, its Controller, Inspect, the registry) can still reach it, and its engine
// knows the same of its own senders; package actors does so for a plain channel's synchronous
// calls.
//
// callrt imports mailbox, naming (the types of naming watches), wire and protobuf; it never
// imports actors or combo. Everything on a [Call] that is not documented as safe from any
// goroutine belongs to the call's actor.
package callrt
