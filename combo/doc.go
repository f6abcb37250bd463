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
