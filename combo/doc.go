// Package combo is brpc's combo channels for troupe: [ParallelChannel] sends a call to all of its
// sub-channels at once and merges their answers, [SelectiveChannel] sends each attempt to one
// sub-channel chosen by a load balancer. Both satisfy [actors.Channel], so any channel — plain,
// parallel, selective — can be a sub-channel of any combo channel, nested to any depth.
//
// A combo call is a call actor (an [actors.Call] whose [actors.Engine] is the combo's), and each
// sub-call is a child actor of it. Children report their ends as messages, and the parent merges
// them one at a time in its own mailbox, so a merger never races; a deadline or a cancel is a
// message to the parent, which cancels its children and ends once they have all reported.
// [actors.System.Inspect] shows a combo call with its sub-calls beneath it.
//
// Package combo imports actors, lb, naming and wire. Channels are safe for concurrent use;
// mappers and mergers run in the call's actor, one at a time per call, and must not block.
package combo
