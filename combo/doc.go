// Package combo is brpc's combo channels for troupe: [ParallelChannel] sends a call to all of its
// sub-channels at once and merges their answers, [SelectiveChannel] sends each attempt to one
// sub-channel chosen by a load balancer. Both satisfy [actors.Channel], so any channel — plain,
// parallel, selective — can be a sub-channel of any combo channel, nested to any depth.
//
// A combo call is a call actor (an [actors.Call] whose engine, in the module's internal call
// runtime, is the combo's), and each sub-call is a child actor of it. Children report their ends as messages, and the parent merges
// them one at a time in its own mailbox, so a merger never races; a deadline or a cancel is a
// message to the parent, which cancels its children and ends once they have all reported.
// [actors.System.Inspect] shows a combo call with its sub-calls beneath it.
//
// brpc partitions by server tags: [PartitionChannel] sends a call to every partition of a naming
// service's servers, [DynamicPartitionChannel] moves traffic between partitioning schemes.
// Finagle partitions by request, and so do [HashingPartitioner] (keys hashed onto a consistent
// ring of partitions, sub-requests merged per partition, answers merged from the successes and
// the failures) and [CustomPartitioner] (a partition function that may call out runs on a
// System goroutine and hands its sub-requests back as a message; logical partitions served by
// one or several instances). Both reshard while calls flow, each call finishing on the
// partitions it started with, and [Shards] reshards them as a naming service's shards come and
// go. [MethodBuilder] gives each method of one client its own channel, timeout and retries, so
// one client can fan one method out and route another to a single partition. Partitioners show
// in Inspect with their counters and partitions.
//
// A user's own [actors.Channel] nests too: its sub-calls are made with its Go, under a context
// that carries the combo call's deadline and is cancelled when the sub-call is no longer needed.
//
// The zero value of every channel here fails its calls with EINVAL (an asynchronous call's done
// has run when Go returns); make them with their constructors.
//
// Package combo imports actors, lb, naming, wire and the internal call runtime. Channels are
// safe for concurrent use; mappers and mergers run in the call's actor, one at a time per call,
// and must not block.
//
// # Sub-calls as brpc shows them
//
// Sub count. A parallel call's Controller reports SubCount() = the number of sub-channels from
// the moment the call is made, skipped ones included, as brpc sets it first thing: a call that
// fails before any sub-call starts (its context done or StartCancel called before it, a mapper's
// Bad, all sub-channels skipped) ends with every Sub(i) nil but SubCount() still the number of
// sub-channels. Only a parallel channel without sub-channels reports 0, and a Controller reused
// without Reset is left as it was.
//
// Selective sub-call timeout. A selective call's sub-controller reports its timeout as disabled,
// Timeout() = (NoTimeout, true), as brpc's shows -1: the sub-channel's own timeout does not apply.
// The deadline that governs the attempt is what remains of the selective call's, which is what
// the server receives as timeout_ms; the sub-controller has no Deadline of its own.
//
// Error texts. A parallel failure names the method and the channel once, at the top, followed
// by brpc's text: "example.EchoService.Echo @parallel channel [E2001]2/2 channels failed,
// fail_limit=2 [C0][E2001]Server fail [C1][E2001]…". Each [C<i>] part is the sub-call's code and
// text only, so that a nested parallel channel's part is its own compact text and nesting does
// not repeat method and server. The whole sub-errors, with their method and server, stay
// reachable through [SubErrors] (errors.As on the call's error, then on each of its Errs).
//
// Per-sub-call settings. [SubCall.MapController] sets up a sub-call's Controller, brpc's
// CallMapper::MapController: the sub-call starts with the call's log id, request code, request
// id, compression and request attachment, and MapController may change each of them per
// sub-call. The sub-call's timeout, retry limit and backup request are the call's whatever it
// sets. brpc copies its client settings (log id and request code among them) over what
// MapController set; here what MapController sets wins, so that each sub-call can carry a log id
// of its own. A merger failure is still ERESPONSE, as documented on [Fail].
//
// # Closing, and a partition channel's first list
//
// A call in flight keeps what it needs alive until it ends, as in brpc, where a ParallelChannel
// destroyed right after an asynchronous call started still completes that call. Close stops new
// calls only: a call made after Close fails at once with ELOGOFF ([actors.ErrClosed], "channel
// is closed"); calls already started complete normally, their sub-calls, retries and backup
// requests included; and the sub-channels a combo channel owns are closed once its last call in
// flight ended (within Close, which then returns their errors, when none is in flight). A plain
// channel follows the same rule: closed, it keeps its actor, server list and sockets until its
// last call ended. Removing an owned sub-channel from a [SelectiveChannel] closes it at once;
// its own calls in flight still complete.
//
// [NewPartitionChannel] and [NewDynamicPartitionChannel] return once the naming service's first
// list has reached every partition's channel, within [FirstListWait] in all, as brpc's Init waits
// for the first batch of servers: the channel is usable, its Weight right, from the start. A plain
// cluster channel does not wait (its calls wait for the first list within their deadline);
// [actors.PlainChannel.WaitForServers] waits for it. PartitionServers gives each partition's
// server count, and [actors.System.Inspect] shows a partition channel with its partitions
// ("partitions", "servers" and "weight" counters, a child per partition with its "servers"), a
// dynamic one with a child per scheme.
package combo
