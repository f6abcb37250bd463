// Package stats holds the recording primitives of troupe's metrics: a log-linear latency
// histogram with a per-second ring of the last minute ([Latency]), counts of errors by brpc code
// ([Errors]) and the per-method record both sides of a call keep ([Method]).
//
// It is plain Go: it imports wire (error codes) and the standard library, no protoactor and no
// goroutines of its own. Recording is safe for concurrent use, lock-free and allocation-free: every
// count is an atomic add on the bucket it belongs to, so concurrent recorders only meet on the
// call count and the latency sum. The per-second ring advances lazily: the first record of a new
// second resets the slot it lands in (under a mutex taken once per second), and readers skip slots
// older than a minute, so nothing ticks. Snapshots read the atomics one by one: a snapshot taken
// while calls are recorded is consistent to within the calls recorded during it.
package stats
