// Package naming turns a naming-service URL into a stream of server lists, as brpc's naming
// services do: "list://a,b", "file://path", "http://host[:port]", "https://host", plus services
// a program adds through [Options.Schemes] — among them "etcd://host:port/prefix", whose
// Builder is in package [github.com/troupe-rpc/troupe/naming/etcd], so that only the programs
// that use etcd link its client.
//
// [New] parses a URL into a [Service]; [Service.Watch] reports the full list once and again after
// each change. Entries of file:// and list:// (and the values of etcd keys) share brpc's syntax,
// "<addr> [<tag>] [# comment]", parsed by [ParseEntries]; a tag that is a positive integer is
// also the server's weight. [Filtered] drops the servers a [Filter] rejects, and [Manual] is a
// source fed by hand.
//
// # Imports
//
// naming is plain Go: it imports the standard library, troupe's wire (for [wire.ParseEndpoint])
// and troupe's lb (for [ServerNode], an alias of [lb.ServerNode]), and never protoactor, actors,
// mailbox, combo, or the etcd client.
//
// # Concurrency
//
// naming starts no goroutine of its own. Watch does its work (reading a file, resolving a name)
// on the caller's goroutine and calls update there. A [Service] may be watched by several
// goroutines at once; [Manual] is safe for concurrent use. There is no package-level mutable
// state and no registry: schemes are a static table plus the ones passed in [Options].
package naming
