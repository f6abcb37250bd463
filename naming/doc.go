// Package naming turns a naming-service URL into a stream of server lists, as brpc's naming
// services do: "list://a,b", "file://path", "http://host[:port]", "https://host",
// "etcd://host:port/prefix", plus services a program adds through [Options.Schemes].
//
// [New] parses a URL into a [Service]; [Service.Watch] reports the full list once and again after
// each change. Entries of file:// and list:// (and the values of etcd keys) share brpc's syntax,
// "<addr> [<tag>] [# comment]", parsed by [ParseEntries]; a tag that is a positive integer is
// also the server's weight. [Filtered] drops the servers a [Filter] rejects, [Manual] is a source
// fed by hand, and [RegisterEtcd] puts a server under an etcd prefix for as long as it lives.
//
// # Imports
//
// naming is plain Go: it imports the standard library, troupe's wire (for [wire.ParseEndpoint]),
// troupe's lb (for [ServerNode], an alias of [lb.ServerNode]) and the etcd v3 client, and never
// protoactor, actors, mailbox or combo.
//
// # Concurrency
//
// naming starts no goroutine of its own. Watch does its work (reading a file, resolving a name,
// reading an etcd watch) on the caller's goroutine and calls update there. The etcd client that an
// etcd:// Watch creates starts goroutines internally and is closed, stopping them, before Watch
// returns; a [Registration] holds an etcd client (and its keep-alive goroutines) until
// [Registration.Close]. A [Service] may be watched by several goroutines at once; [Manual] is safe
// for concurrent use. There is no package-level mutable state and no registry: schemes are a
// static table plus the ones passed in [Options].
package naming
