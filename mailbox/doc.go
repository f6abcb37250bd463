// Package mailbox is the plumbing every troupe actor runs on, built on protoactor-go's public
// extension points:
//
//   - [Pool], a dispatcher with a fixed set of worker goroutines. protoactor's default dispatcher
//     starts a goroutine per mailbox activation, whose stack growth makes a message hop 5–10×
//     slower; the pool reuses warm goroutines and never blocks a sender (when its queue is full the
//     activation runs on a goroutine of its own, still tracked, so [Pool.Close] waits for it).
//   - [NewMailbox], a mailbox for ordinary protoactor actors that, on request, delivers a [*Drained]
//     message whenever the actor has emptied its queue. Before it does, it yields its worker once
//     so that goroutines ready to run can post more: a socket actor that flushes on Drained then
//     writes several frames per syscall under load (measured: 1.35 frames per write without the
//     yield, 7 with it, and a third more calls per second). [NewInlineMailbox] lets a sender take
//     an idle actor's turn on its own goroutine for the messages it names, and yields before
//     Drained only when told that more messages are coming: a yield wakes another thread, which
//     a lone message should not pay for.
//   - [Light], the light actor that every call and sub-call is (the goroutine that starts a call
//     takes the actor's first turn itself, [SpawnHeld], and whatever arrived meanwhile on
//     Release; [Light.SendInline] lets a sender take an idle Light's turn; an owned Light,
//     [SpawnOwnedIn], runs every turn on its owner's goroutine, which waits for it in
//     [Light.RunTurns]): a process with a real PID, so
//     anything can Send to it, Stop it or watch it, with a small mailbox that runs one message at
//     a time on the pool, and parent/child links that stop a call's sub-calls with it. It skips
//     protoactor's spawn, supervision and Terminated machinery, which cost a short-lived actor
//     three times its useful work.
//   - [Registry], where Lights are registered: in slot lists, and by number once their PID is
//     made, under an address of their own that protoactor resolves through an AddressResolver,
//     instead of in protoactor's string-keyed process registry, whose insert and removal cost a
//     short-lived actor as much as its work.
//     [Registry.Each] visits them with their shard locked, and a Light that finished stopping
//     without anyone naming it is [Light.Reusable]: its owner may spawn the next actor in the
//     same memory (a synchronous call's state is reused so).
//
// Package mailbox imports protoactor-go and the standard library only. It is the one troupe
// package whose API mentions protoactor types. Everything in it is safe for concurrent use; a
// handler's Receive is never run concurrently with itself.
package mailbox
