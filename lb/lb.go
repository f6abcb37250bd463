package lb

import (
	"time"
)

// ServerNode is one server a naming service lists. The same address with different tags is a
// different instance (brpc's partition channels put one server in several partitions that way).
// Package naming calls it naming.ServerNode, an alias of this type.
type ServerNode struct {
	Addr   string // "127.0.0.1:8000": host:port as wire.Endpoint prints it
	Tag    string // free text after the address; "" when none
	Weight int    // weight for weighted balancers; 0 when the source gave none
}

// Server is one entry a balancer chooses from: a server of the naming service and whether it can
// take calls now.
type Server struct {
	ServerNode
	Down bool // isolated (broken connection, circuit breaker) or logged off: never picked
}

// Request describes one selection.
type Request struct {
	Code    uint64 // the call's request code, for consistent hashing
	HasCode bool
	// Excluded lists servers this call already tried, matched by address; they are avoided
	// except by brpc's "last chance" rule: the last candidate a selection considers is taken
	// even if excluded (see the package documentation).
	Excluded []ServerNode
	Begin    time.Time // when the attempt starts (la records in-flight time from it)
}

// Picker chooses servers from one immutable snapshot of the server list. It is safe for
// concurrent use and never blocks or takes a lock.
type Picker interface {
	// Pick returns the index, in the slice the Picker was built from, of the server to call. Its
	// errors are *wire.Error values: ENODATA when the list is empty, EHOSTDOWN when no server is
	// usable, EINVAL when a consistent-hashing balancer gets no request code, EREJECT when the
	// cluster-recovery policy turns the call away. A user's Picker should answer the same way;
	// the call that gets the error ends with its code (EINTERNAL for an error that carries none).
	Pick(r *Request) (int, error)
}

// Feedback reports how an attempt on a picked server ended.
type Feedback struct {
	Server   ServerNode
	Begin    time.Time     // when the attempt started
	Latency  time.Duration // how long it took
	Failed   bool          // it ended with an error
	Timeout  time.Duration // the call's timeout (la's penalty for errors grows toward it); 0: none
	Retried  int           // retries the call made before this attempt
	MaxRetry int           // the call's retry limit
}

// Balancer is a load-balancing policy: one made by [New] from its brpc name, or a program's own
// given to a channel as a value (see "Writing a balancer" in the package documentation). Build
// is called by one goroutine at a time (a channel actor) whenever the server list or a server's
// health changes; Feedback comes from the calls, concurrently with Build and with Pick. State a
// policy keeps across snapshots (la's latencies, the cluster-recovery counters) lives in the
// Balancer, so a Balancer serves one channel: give each channel a value of its own.
type Balancer interface {
	// Build returns a Picker over servers, never nil (a Picker whose Pick fails with ENODATA or
	// EHOSTDOWN says there is nothing to pick). It may keep servers; the caller does not change
	// it.
	Build(servers []Server) Picker
	// Feedback tells the balancer how an attempt on one of its servers ended. Policies that do
	// not learn ignore it. It must not block: it runs on the call's turn.
	Feedback(f Feedback)
	// Name returns the policy's name, brpc's for those of [New] ("rr"). It shows in a channel's
	// inspection and in the errors of [Guard].
	Name() string
}
