// Package etcd is the etcd naming service of troupe, "etcd://host:port[,host:port…]/prefix",
// and the registration of servers under such a prefix. It lives apart from package naming so
// that only the programs that use etcd link the etcd client (and gRPC under it).
//
// A program plugs the scheme in as a value, under the name "etcd":
//
//	import "github.com/troupe-rpc/troupe/naming/etcd"
//
//	ch, err := sys.NewChannel("etcd://127.0.0.1:2379/services/echo", &actors.ChannelOptions{
//		LoadBalancer:  "rr",
//		NamingSchemes: map[string]naming.Builder{"etcd": etcd.Scheme(nil)},
//	})
//
// or, with package naming alone, through [naming.Options.Schemes]. Without it, an etcd:// URL
// fails with [naming.ErrUnknownScheme].
//
// The service lists the entries stored as the values of the keys under "/prefix/", one or more
// per value in brpc's syntax "<addr> [<tag>] [# comment]" ([naming.ParseEntries]), in key order
// without duplicates; an etcd watch pushes each change. When etcd cannot be reached the last
// list is kept and etcd is tried again after a growing backoff. [Register] puts a server under a
// prefix, bound to a lease kept alive until [Registration.Close].
//
// Both reach etcd as [Options] say: over TLS ([Options.TLS]: the CA that signed etcd's
// certificate, and the client's certificate when etcd runs with --client-cert-auth) and with a
// user and password when etcd has authentication enabled ([Options.Username],
// [Options.Password]):
//
//	opts := &etcd.Options{TLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
//		Username: "echo", Password: secret}
//	builder := etcd.Scheme(opts)
//	reg, err := etcd.Register(ctx, []string{"10.0.0.5:2379"}, "/services/echo", node, 10*time.Second, opts)
//
// # Imports
//
// etcd imports the standard library, troupe's naming and wire, the etcd v3 client and zap (the
// etcd client's logger, whose output goes to a *slog.Logger), and never protoactor, actors,
// mailbox or combo.
//
// # Concurrency
//
// The package starts no goroutine of its own and has no package-level mutable state. The etcd
// client that a Watch creates starts goroutines internally and is closed, stopping them, before
// Watch returns; a [Registration] holds an etcd client (and its keep-alive goroutines) until
// [Registration.Close]. A Service may be watched by several goroutines at once.
package etcd
