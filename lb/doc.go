// Package lb is Apache brpc's client-side load balancers in plain Go: round robin ("rr"),
// random ("random"), weighted round robin ("wrr"), locality-aware ("la") and consistent hashing
// ("c_murmurhash", "c_md5", "c_ketama"), with brpc's cluster-recovery throttling for rr and
// random. [New] makes a [Balancer] from brpc's name and parameters, as
// "random:min_working_instances=6 hold_seconds=10" or "c_murmurhash:replicas=150".
//
// A Balancer turns each server list it is given into an immutable [Picker]; a Picker returns the
// index of the server a call should use, or a [*wire.Error] whose code says why there is none:
// ENODATA (empty list), EHOSTDOWN (nothing usable), EINVAL (consistent hashing without a request
// code, or a code above 2^32−1), EREJECT (turned away by cluster recovery). A server is usable
// when it is not [Server.Down].
//
// Servers a call already tried ([Request.Excluded], matched by address as brpc matches them by
// socket) are avoided with brpc's "last chance" rule: a selection considers the list's entries
// one at a time in an order of its own, Down ones included, skips the Down and the excluded
// ones, and takes the last entry it considers if that one is usable, even if excluded. So a
// retry on a one-server list goes back to that server, a call that tried every server tries
// one again, and a call that tried the only server that is not Down gets either that server or
// EHOSTDOWN depending on where the selection started, as in brpc. la counts its tries against
// the usable entries instead (its Down entries weigh 0 and are never drawn), and its last try
// reuses an excluded server only when every usable one is excluded.
//
// # Policies
//
//   - rr cycles through the usable servers in list order from a random start, one shared atomic
//     counter per Balancer, so the traffic of a Down server is spread evenly over the others. The
//     same address listed with two tags is two entries and gets two shares.
//   - random picks a usable server uniformly. With exclusions it starts at a random entry and
//     jumps by a random stride coprime with n, so n probes visit every entry once.
//   - wrr takes each server's weight from [ServerNode.Weight], or else from its tag parsed
//     as an unsigned 32-bit integer; a server with neither is left out ([Weight] tells), and
//     where brpc logs "Invalid weight is set", [BuildError] of the Picker names it. Picks
//     walk the weight units of the usable servers by brpc's prime stride, coprime with the
//     weight sum, so any sum consecutive picks give each server exactly its weight.
//   - la (locality-aware) learns a weight per address from [Balancer.Feedback] and picks by
//     weighted random; see below.
//   - c_murmurhash, c_md5 and c_ketama place replicas points per server on a 32-bit [Ring]
//     exactly as brpc does and send a request code to the first usable server clockwise.
//     A point's key is "A-i" (A the address as brpc prints it: "10.0.0.1:80", "[::1]:80",
//     "unix:path"); with the parameter enable_server_tag=true (default false, brpc's
//     -consistent_hashing_enable_server_tag) it is "A-i-T", T being the server's tag, so the
//     same address under two tags gets two sets of points. Without it a tag moves no point.
//
// # Golden data
//
// testdata/brpc-lb holds what Apache brpc 1.17's c_murmurhash, c_md5 and c_ketama selected for
// some 6000 request codes each (every arc edge of the ring included, and the codes above
// 2^32−1 that fail with EINVAL) over six server sets: 3 and 10 IPv4 servers, 10 tagged servers
// with and without -consistent_hashing_enable_server_tag, replicas=160, and the addresses of
// brpc's own unit test (IPv6 and a unix socket among them); its hashes.tsv has brpc's
// MurmurHash32, MD5Hash32 and ketama words for inputs of every length class. Its README.md
// says how the files were made. The tests check every row against New's balancers and the
// ring's hash functions.
//
// # Locality-aware weights
//
// Each address keeps a window of its last 128 samples (cumulative latency, end time). From it,
// with n samples spanning s microseconds:
//
//	qps     = (n−1)·1e6/s when the window is full or s ≥ 1s, else 1 (and never below 1)
//	latency = mean of the last n−1 latencies (the only one when n = 1), in microseconds
//	base    = scale·qps/latency                   (scale ≈ 1.0e9, brpc's WEIGHT_SCALE)
//
// that is QPS over latency, as brpc's code does (its docs say latency², see brpc-semantics Q6).
// A failed attempt adds an error latency to the newest sample instead of adding one, so latency
// rises and QPS falls; the error latency goes from 1.2×latency on a first attempt toward the
// call's timeout on its last one: (1.2·latency·left + timeout·done)/(left+done), with done =
// Retried and left = MaxRetry−Retried (done=1, left=0 when MaxRetry is 0; 1.2·latency without a
// timeout). When the mean start of a server's in-flight attempts is older than 1.5×latency,
// its weight is scaled down by 1.5·latency/age at each pick. Every usable server's weight is at
// least max(1000, mean weight/100), so none starves and a failing server keeps being probed
// with about 1% of a mean server's traffic (each Pick lifts one random entry that fell below
// that floor as the total grew). A new address starts at the mean base weight (scale for the
// first), and a Down one has its base lowered to that mean. Picks draw a number below the
// weight total and find its server in a Fenwick tree of atomic weights: O(log n), no locks. A
// weight change updates the weight, then the sums; a goroutine descheduled in between leaves
// them out of step (even below zero) for as long as it waits. A draw meanwhile takes the server
// it lands on, and when the sums cannot be drawn from, draws from the weights by a linear scan.
// (brpc's tree walk moves on, and after 10000 steps fails with EHOSTDOWN: on a loaded machine
// that happened while every server was up.)
// Feedback must carry the Begin time given to Pick.
//
// With latencies that do not grow with load, as in a test, a server whose window measures a
// high QPS first keeps drawing more traffic: the formula rewards throughput, as brpc's does;
// only the floor bounds it.
//
// # Writing a balancer
//
// A program's own policy is a value that implements [Balancer], given to a channel in place of a
// name (actors.ChannelOptions.Balancer, combo.SelectiveOptions.Balancer):
//
//   - Build(servers) receives the whole list each time it or a server's health changes and
//     returns a [Picker], an immutable snapshot that calls pick from concurrently and without
//     locks. Work out in Build what Pick needs (say, the indices of the servers that are not
//     [Server.Down]); never return nil.
//   - Pick(r) returns an index into the slice Build received. It skips Down servers, avoids
//     [Request.Excluded] (the servers the call already tried) while another is usable, and may
//     use [Request.Code] for affinity when [Request.HasCode]. With nothing to pick it returns a
//     [*wire.Error]: ENODATA for an empty list, EHOSTDOWN when none is usable; the call retries
//     both while its retries and its deadline allow, and ends with any other error's code.
//   - Feedback(f) reports how each attempt ended and how long it took, concurrently with Build
//     and Pick; a policy that does not learn ignores it.
//   - Name() names the policy in a channel's inspection and in errors.
//   - A Picker may also implement [BuildReporter] to name the servers of the list it left
//     out as unusable (a bad weight, say); [BuildError] asks it.
//
// A Balancer value serves one channel: the channel calls Build from its own actor only, and what
// the policy learns is about that channel's servers. A channel wraps a program's Balancer in
// [Guard], so that a nil Picker, a panic or an index out of range fails the calls that meet it
// with EINTERNAL instead of taking the program down. The package's example WritingABalancer is
// a complete one.
//
// # Imports and concurrency
//
// Package lb imports only the standard library, [github.com/troupe-rpc/troupe/wire] and a
// MurmurHash3 implementation; it starts no goroutine and has no package-level mutable state. It
// does not import package naming: the server list type is lb's own [ServerNode], which naming
// uses under the name naming.ServerNode.
//
// [Balancer.Build] is called from one goroutine at a time. Pickers are immutable snapshots, safe
// for concurrent use; Pick takes no lock and, except when it returns an error, allocates
// nothing. [Balancer.Feedback] is safe for concurrent use with Build and Pick. A [Ring] is
// immutable and safe for concurrent use.
package lb
