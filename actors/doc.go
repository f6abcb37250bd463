// Package actors is troupe's runtime: a [System] that owns a protoactor actor system and every
// goroutine troupe starts, channels whose calls are actors, socket actors that own the
// connections, a baidu_std [Server], and [System.Inspect] to see all of it.
//
// # Calls are actors
//
// A call made with [PlainChannel.Call] or [PlainChannel.Go] is a light actor (package mailbox): a
// process in the protoactor registry with its own PID and a mailbox that handles one message at a
// time on troupe's pooled dispatcher. The goroutine that starts a call takes the actor's first
// turn: it encodes the request, adds its deadline to the System's, registers the context's
// cancellation and hands the frame to the server's socket actor. From then on everything is a message to the call:
//
//   - a response, delivered by the socket's reader goroutine straight to the call;
//   - a failed attempt (the connection broke), after which the call retries while brpc's policy
//     allows it: a retriable code, retry quota left, time left;
//   - the deadline (ERPCTIMEDOUT, never retried) and a cancel (ECANCELED);
//   - the System's shutdown (ELOGOFF, wrapping [ErrClosed]).
//
// Whichever comes first finishes the call: its timers stop, its Controller is filled, the caller
// or the done callback is released, and the actor leaves the registry. A late response finds no
// one and is dropped without a dead letter. Every call finishes exactly once.
//
// A turn runs where its message arises whenever the actor is idle, because on a small machine a
// hand-off to a parked goroutine costs more than the turn: the starting goroutine also takes the
// socket actor's turn when the socket is idle (writing its own frame), the reader takes the turn
// of each asynchronous call or sub-call whose response it reads, and an answer that arrived
// during the first turn is processed by the starting goroutine before it returns. A synchronous
// call's actor is its caller's ([mailbox.SpawnOwnedIn]): the caller, which waits anyway, runs
// every later turn of it, so the reader only hands the answer over and wakes the caller, which
// decodes it and finishes the call while the reader goes on to the next answer: with many
// callers on one connection the reader no longer does the calls' work one after another (see
// the README's Performance section). After the answer of a caller making one call at a time the
// reader yields, so that the caller runs before the reader reads again. Turns never block, so
// the goroutine lending itself only pays the turn's time. A reader that expects
// an answer soon (a single call waits on its connection, and the answer before it came alone)
// polls its socket for up to [SystemOptions.ReadPoll] before it parks, as a server's reader does
// after a lone request ([ServerOptions.ReadPoll]): for a lone caller, the wake-up of a parked
// reader costs more than the rest of the call. A socket actor yields before it writes while
// calls that just got their answers have not sent again, so that their frames join the write,
// until eight frames wait: a larger batch would keep the server idle while the client gathers
// it. Whether the yield pays at all depends on the machine: each connection measures its
// answers per second with and without it for a few tens of milliseconds, keeps the faster way
// for a quarter of a second to a second, and measures again (on a host with slow
// cross-processor wake-ups, eight callers make a third more calls without the yield, 64 a third
// fewer).
//
// On Linux, both sides read and write plain TCP sockets with raw system calls, through the
// connection's [syscall.RawConn]: a read that finds nothing and a write that finds the socket
// full still park in Go's network poller, but a call that does not wait is not announced to the
// scheduler, which would wake its monitor thread when the process had been idle and hand the
// processor to another thread when the call ran long. Builds with the race detector use
// syscall's own calls, which tell the detector that what was written to a socket happened before
// what is read from it.
//
// # Sockets are actors
//
// A socket actor owns every connection of the System to one server for one connection type
// ([ChannelOptions.ConnectionType]) and one [Authenticator]: channels share a socket only when
// all three match, as brpc's channels share connections only when their option signatures do.
// It dials on demand in goroutines of its own, registers each attempt's correlation id, and
// writes frames directly when the kernel takes them without blocking and from a goroutine of
// its own when it does not, so the actor never blocks. Reader goroutines deliver responses
// straight to their calls. The connection types are brpc's:
//
//   - single (the default): one connection multiplexing every attempt. Frames queue in a buffer
//     and, when the mailbox drains, everything queued leaves with one syscall; a large frame
//     (over 64 KiB) is never copied into that buffer, but leaves from its own. A broken
//     connection fails every attempt pending on it and isolates the server until health
//     checking reconnects (see Faults).
//   - pooled: a connection per attempt in flight. An attempt takes the most recently used idle
//     connection or dials one, up to MaxConnectionPoolSize per server; beyond that, attempts
//     queue in the actor until a connection comes back, which it does when its answer arrived.
//     A connection whose attempt was abandoned before its answer (a timeout, a cancel) is closed
//     rather than reused; idle ones are closed after IdleTimeout.
//   - short: a new connection for every attempt, closed once its answer arrived.
//
// With pooled and short connections a broken connection fails only the attempt it carried, and a
// connection that cannot be made isolates the server, as in brpc.
//
// With an Authenticator, the credential is generated once per new connection, in the dialling
// goroutine after connecting, and sent in the first request written on that connection only: the
// socket actor re-encodes that one frame with RpcMeta.authentication_data set. A credential that
// cannot be made fails the attempts waiting for the connection with ERPCAUTH. A [Server] with a
// [ServerOptions.Authenticator] checks each connection's first request and answers a missing or
// refused credential with ERPCAUTH, then closes the connection without serving anything else.
//
// A socket lives while a channel uses it: a plain channel until Close and the end of the last
// call started before it (a closed channel refuses new calls at once but keeps its server list
// and sockets for the calls in flight), a cluster channel while the server is in its list. When the last one lets it go, the socket retires: it leaves the
// System (a new channel to that server gets a new socket), shows as "retiring" in Inspect, lets
// the calls in flight on it have their answers, then closes its connections and stops. An
// attempt that still reaches it, from a call that picked it from a list just replaced, fails at
// once with EFAILEDSOCKET, which the call retries on the new list. brpc keeps a socket alive
// the same way, by the references of the channels and calls that hold it.
//
// # Channels to clusters
//
// With a LoadBalancer (or a Balancer of the program's own), [System.NewChannel] takes a naming
// service URL (list://, file://, http://, https://, or a scheme of ChannelOptions.NamingSchemes,
// such as etcd:// from package naming/etcd). The channel actor runs the naming service's watch
// on a goroutine of its own and keeps the server list and each server's health; it publishes
// an immutable snapshot — servers, their socket actors and a picker from package lb — that
// calls read with one atomic load, never a lock or a message. A server whose connection
// breaks is isolated (the balancer skips it) and reconnected every HealthCheckInterval until it
// answers; the circuit breaker, when enabled, isolates a server whose error rate spikes. A failed
// attempt is retried on another server while the retry policy, the retry quota and the deadline
// allow; a backup request sends a second attempt to another server when the first is slow.
//
// # Engines and child calls
//
// A call's actor gives every kind of call the same lifecycle — deadline, cancellation, done
// callback, Join, Controller, Inspect, exactly one end — and leaves the work to an engine: the
// plain channel's picks servers and sends attempts, each combo channel's (package combo) starts
// sub-calls and merges their answers. That contract lives in the module's internal call runtime,
// which this package and package combo share and users never see: [Call] and [Controller] are
// defined on its types and export only what a caller may do. A combo call's sub-calls are child
// actors of it that report their ends as messages, so the parent handles its children's results
// one at a time in its own mailbox. Any [Channel] nests in a combo channel: troupe's own channels
// through the runtime, a user's own implementation through its [Channel.Go].
//
// A plain channel's synchronous Call makes its call in the memory of a finished one when it can:
// the call's state (actor, first attempt, engine) is most of what a call allocates, so reusing
// it cuts the client's garbage collections about sevenfold under load. A call goes back for reuse
// only once nothing else can reach it — answered on its first attempt, no timer or callback left
// to fire, its Controller let go of, no PID of it handed out — and any other call is simply left
// to the garbage collector.
//
// # Zero and negative values
//
// One rule holds for every retry limit, timeout and backup-request delay, in options and
// Controller setters alike: 0 means the default (for an option, brpc's default; for a Controller
// setting, the channel's), and a negative value means none — [NoRetry], [NoTimeout],
// [NoBackupRequest]. Options are validated structs in brpc's style: a bad value is an error from
// the constructor that names the field.
//
// Types whose zero value a user can reach never panic: a zero [System] refuses channels with
// EINVAL, a zero [PlainChannel] (and a zero channel of package combo) fails every call with
// EINVAL — an asynchronous one has run its done callback, once, when Go returns — and a zero
// [Call] is one that ended with EINVAL. A zero [Controller] is ready to use.
//
// # Deadlines
//
// A call's deadline is the earliest of its context's deadline and its timeout: the Controller's
// ([Controller.SetTimeout]) or else the channel's ([ChannelOptions.Timeout], brpc's 500 ms by
// default).
//
// A System keeps the deadlines of its calls in flight as brpc's TimerThread does: in a few heaps
// (one per processor) and one alarm at the earliest, not a Go timer per call. A call that
// finishes leaves its heap; the alarm is moved only for an earlier deadline, and otherwise rings
// at the old one, finds nothing due and is set for the earliest left, so calls of one timeout set
// it about once per timeout. On Linux the alarm is a timerfd read through the network poller,
// which costs Go's scheduler nothing while it waits; elsewhere it is one Go timer. A call ends
// with ERPCTIMEDOUT at or after its deadline, never before.
//
// # Errors
//
// Errors are [*wire.Error] values carrying brpc's codes: errors.Is(err, wire.ERPCTIMEDOUT),
// errors.Is(err, context.DeadlineExceeded) and errors.As(err, &werr) all work, and
// [wire.ErrnoOf] gives the code of any error.
//
// # The server
//
// A [Server] reads each connection on one goroutine and decides per request where its handler
// runs, from a moving average of how long the method's handler takes. The last request of a
// read runs on the reading goroutine, as in brpc. So do all the requests of a quick method (under
// 20 µs): a batch of them costs no goroutine wake-up, and their answers wait in the write buffer
// until no whole request is left to read (or for 50 µs), then leave in one write. Other requests
// run on pooled worker goroutines, and a method that averages a millisecond or more never runs
// in place. A watchdog moves reading to a new goroutine when a handler has held it for 10 ms,
// and that goroutine first writes out the answers held behind the handler. brpc runs every
// request but the last in a bthread of its own; in Go that wake-up costs more than a quick
// handler, which is why troupe keeps quick batches in place. A large answer (over 64 KiB) is not
// copied into the write buffer: it leaves at once, in one vectored write with what the buffer
// holds, from the buffer it was marshalled into. Once a handler returned, the frame of a request
// without an attachment, with its body up to 4 KiB, serves the next request: its ServerCall
// must not be used any more, and its message was parsed into memory of its own.
//
// A handler's ctx ends at the deadline its request brought: RpcRequestMeta.timeout_ms, which
// troupe's channels (and brpc's with -baidu_std_protocol_deliver_timeout_ms) set to the time
// the call has left, counted from when the server read the request. A request without it has no
// deadline. The ctx also ends, with context.Canceled, when the client's connection closes or
// when [Server.Shutdown] stops waiting. The deadline's timer is made only when the handler (or a
// context derived from its ctx) asks for ctx.Done, so a handler that never looks costs nothing.
// An answer returned once the deadline has passed is dropped, since the client has given up on
// it; brpc would send it for the client to drop. See [ServerCall].
//
// [ServerOptions.Interceptors] wrap every handler, the first outermost; each sees the
// [ServerCall], the parsed request and the handler's response and error, may pass on another
// ctx, and may answer without calling the handler. A panic in one is answered EINTERNAL as a
// handler's is. The chain is built once per method when it is registered.
//
// Through [ServerCall] a handler reads what the request's RpcMeta brought (log id, request id,
// trace, span and parent span ids, user fields, attachment) and sets response user fields, sent
// in the response's RpcMeta.user_fields as brpc's Controller::response_user_fields are.
//
// # Imports and concurrency
//
// Package actors imports wire, naming, lb, mailbox, the internal call runtime and protoactor-go;
// no protoactor type appears in its API except [SystemOptions.ActorSystem]. Systems, channels, calls and servers are safe for
// concurrent use; a Controller belongs to one call at a time.
//
// A System that makes its own actor system gives protoactor's process registry 16 buckets
// instead of 1 024 (each a map in 32 shards): only channels and sockets are registered there,
// and the 32 768 maps were most of a client's live heap, marked by the collector on every cycle.
// An actor system passed in SystemOptions is left as it is.
//
// # Faults
//
// A client reports a server's faults with brpc's codes, and the default retry policy retries
// every one of them within the call's retry limit and deadline. A connection that cannot be
// made gives the dial's code: ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, or ETIMEDOUT ("connect
// timed out") when ConnectTimeout passes; the call's own deadline is ERPCTIMEDOUT and is never
// retried. A connection the server closes before or in the middle of an answer gives EEOF (or
// ECONNRESET); an answer stream that cannot be parsed — bad magic, a meta that does not decode,
// a frame over the size limit, a request frame where an answer was expected — gives
// EFAILEDSOCKET, with a text naming what was wrong and quoting at most four of the peer's
// bytes. Either way the connection is closed and every attempt pending on it fails. A frame
// that parses but whose payload is not the response type (or whose checksum or attachment_size
// is wrong) fails only its call, with ERESPONSE, not retried, and the connection goes on.
//
// A refused or unreachable connect, a broken single connection, three connect timeouts in a row
// and a trip of the circuit breaker isolate the server's socket. While it is isolated, attempts
// that reach it fail at once with EHOSTDOWN, without dialling: "Server 127.0.0.1:8000 is down
// (isolated since 01:02:03.456: <last error>)", an error that wraps the last error. A cluster
// channel's balancer skips the server, and a retry goes to another one. So the first call to a
// dead single server dials, is refused and ends with EHOSTDOWN after its retries (errors.Is
// also finds ECONNREFUSED), and later calls get EHOSTDOWN at once. Only the health checker
// revives a socket: every HealthCheckInterval (brpc's -health_check_interval, 3 s), or once
// the breaker's isolation time is over after a trip, it connects again, and success brings the
// server back. Every channel, single-server ones included, subscribes its servers to health
// checking. The breaker isolates for [CircuitBreakerOptions.MinIsolation] (100 ms), doubling at
// each trip within MaxIsolation of the last revival, back to the minimum after a quiet period.
// Broken connections and isolations are logged at most once a second per kind, with the count
// of lines suppressed.
//
// # Server limits
//
// A [Server] keeps accepting whatever happens: an accept error other than the listener's close
// (out of descriptors, an aborted connection) is logged at most once a second and retried after
// a pause growing from 5 ms to 1 s. [ServerOptions] bound what clients can make it hold:
// MaxConnections (connections beyond it are closed at accept), IdleTimeout (connections idle for
// that long are closed by one sweeping goroutine), MaxConnectionRequests (a connection with that
// many requests in handlers is not read until one returns; 1024 by default), MaxUnwrittenBytes
// (answers beyond 64 MiB waiting on a connection become EOVERCROWDED errors and the connection
// is not read until they drain below half, as brpc's -socket_max_unwritten_bytes) and
// MaxRequestMemory (requests read, decompressed and parsed count against a server-wide budget,
// 256 MiB by default; a request or a decompression over it is answered ELIMIT instead of being
// inflated). A client that pipelines without end, or never reads its answers, so holds a
// bounded number of goroutines and bytes.
//
// # Write limits
//
// Two limits keep a client's memory bounded when a server reads slowly or not at all, after
// brpc's -socket_max_unwritten_bytes and -max_body_size.
//
// [ChannelOptions.MaxUnwrittenBytes] (64 MiB by default) bounds the bytes queued on one
// connection and not yet written. An attempt whose frame would take the connection past it fails
// at once with EOVERCROWDED, naming the bound and the server, instead of waiting for its
// deadline behind frames that do not leave; a connection with nothing unwritten always takes one
// frame, however large, so that a big request still goes out alone. brpc's default retry policy
// retries EOVERCROWDED, and so does troupe's, but never on the server that refused it: a channel
// to one server ends the call at once, a channel to a cluster tries another server. The frames
// of calls that end before they are written (a timeout, a cancel) leave the queue and stop
// counting; only what a writing goroutine already holds — the rest of a frame whose first bytes
// left, and at most 256 KiB of whole frames after it — is written regardless. A pooled or short
// connection carries one frame at a time, so the bound never refuses one of its attempts.
// Inspect shows a single connection's unwritten bytes as the socket's "unwritten_bytes".
//
// [ChannelOptions.MaxBodySize] (64 MiB by default) bounds the body — meta, payload and
// attachment — of every frame the channel sends or reads. A larger request fails before anything
// is written with EREQUEST ("request of N bytes exceeds max_body_size=M") and is not retried. A
// larger response fails the connection it arrives on, as any malformed frame does, and a
// compressed response that would decompress beyond the limit fails its own call with ERESPONSE.
// [NoLimit] lifts either bound; the body is then limited only by the frame format, to 4 GiB - 1.
//
// # Behaviour under network faults
//
// The fault suite (faultsuite_*_test.go, run with go test -run FaultSuite) pins down what a
// caller sees when the network or the peer misbehaves, one case per fault. On the client: a
// refused connection fails with ECONNREFUSED; a server that closes before answering with EEOF;
// a reset with ECONNRESET, also when it hits a frame's first bytes; an answer whose payload does
// not parse, or whose checksum does not match, with ERESPONSE; a stalled, blackholed or too slow
// server with ERPCTIMEDOUT at the call's deadline; a cancelled call with ECANCELED. A throttled
// or delayed server within the deadline still answers, backup requests route around a slow
// server, a cluster's dead server is skipped, health checking brings a server that came back
// into use, and the circuit breaker isolates a server failing every call. On the server: bytes
// that are not a baidu_std frame, a header declaring more than MaxBodySize, a garbage meta or a
// truncated frame close the connection; an unknown service or method is answered ENOSERVICE or
// ENOMETHOD, and a request that does not parse, fails its checksum, claims more attachment than
// it carries, names an unknown compression or inflates beyond MaxBodySize is answered EREQUEST,
// the connection serving on; a response frame sent to a server is ignored; requests beyond
// MaxConcurrency are answered ELIMIT, each exactly once; a client's reset cancels the handlers of
// its connection. Under the server limits, a client that never reads gets EOVERCROWDED answers
// while the server stops reading it, a gzip bomb over the memory budget is answered ELIMIT, a
// connection beyond MaxConnections, an idle one and one holding half a frame are closed. In
// every case each call finishes exactly once and the server keeps serving.
//
// # Overload control
//
// [ServerOptions.MaxConcurrency] bounds the requests a [Server] handles at once, and
// [ServerOptions.MethodMaxConcurrency] those of each method, as brpc's per-method
// max_concurrency: a fixed number, "unlimited", or "auto", brpc's auto concurrency limiter. The
// server-wide bound is checked first; a request beyond either is answered at once with ELIMIT
// (2004), whose text names the method and its limit, and its handler does not run. A method's
// slot is given back when its handler returns, before the answer is written. The auto limiter
// samples the method's answers in windows of up to a second and sets the limit to the no-load
// latency times the peak QPS times 1 plus an explore ratio of 6 to 30 %, with brpc's default
// flags; every 25 to 50 s it cuts the limit to let the queue drain and measures the no-load
// latency again. It counts a handler's failures, punished, against its successes, and ignores
// ELIMIT answers. Unlike brpc, it never goes below 4, rounds the limit up, and starts by
// remeasuring after each window, halving the limit, for as long as latency keeps falling, so
// that a method overloaded from its start finds its limit within seconds rather than after the
// first periodic remeasure. A method answering fewer than 100 requests a second never fills a
// window, and keeps the initial limit of 40 (a window too short of samples because the limit
// refused requests doubles the limit instead). Calls refused with ELIMIT are retried by channels
// (brpc's default retry policy), which adds to the load of an overloaded server: a client
// that calls one should set [ChannelOptions.MaxRetry] to NoRetry or a RetryPolicy of its own.
//
// # Addresses listed more than once, and the soak
//
// A naming service may list one address several times, as brpc's file naming does for one
// server under several tags (partition schemes "0/2" and "0/3", say). A cluster channel treats
// each entry as an instance for its load balancer but holds one socket per address, so closing
// the channel, or the address leaving the list, retires that socket. examples/soak (make soak)
// checks this with the rest of the client's life cycle: after minutes of mixed load, server
// kills, naming edits and slow readers, every call has finished exactly once and closed
// channels leave no channel, call or socket, and no goroutine, behind.
//
// # TLS and other transports
//
// ChannelOptions.TLS makes a channel's connections TLS, brpc's ChannelSSLOptions: single, pooled
// and short connections, the health checker's, and the authentication credential inside them.
// The handshake is part of connecting (ConnectTimeout bounds both), the server name defaults to
// the address's host, sessions are resumed on reconnect. A handshake that fails, or a TLS alert
// on an open connection, fails the call with ESSL and a text that says what went wrong (an
// unknown authority, an expired certificate, a name the certificate does not carry, a server that
// does not serve TLS, a missing client certificate); ESSL is not retried, and the server is not
// isolated for it, so every call tells the same, at once. A Server with ServerOptions.TLS serves
// TLS and plain baidu_std on one port, telling them apart by a connection's first byte, as brpc
// does; with RequireTLS each request of a plain connection is answered ESSL. Certificates renew
// through tls.Config.GetCertificate without a restart; with mutual TLS a handler reads the
// client's certificates from [ServerCall.TLS].
//
// Endpoints may be unix domain sockets, written as brpc does, "unix:/run/echo.sock", in a
// channel's target, a naming list or file, and Server.Listen. ChannelOptions.Dialer replaces TCP
// altogether with a program's own connections (a test dials an in-memory pipe). A plain TCP or
// unix connection is written by its socket actor without blocking; a TLS connection, or one a
// Dialer made, by a goroutine per burst of frames, which TLS's record layer needs anyway: at 64
// callers TLS echo does 0.66 to 0.75 times the calls of plain echo (BenchmarkTLSEcho).
//
// # Backup request policies
//
// [ChannelOptions.BackupRequest] sends every slow call's backup request after one fixed delay.
// [ChannelOptions.BackupPolicy] decides instead, call by call, as brpc's BackupRequestPolicy: a
// [BackupPolicy]'s Delay gives the delay as the call starts (brpc's GetBackupRequestMs), its
// DoBackup decides, once the delay passed without an answer and a retry is left, whether the
// backup request goes (brpc's DoBackup), and its OnCallEnd hears of every call of the channel
// once it finished, with its result and latency in the Controller (brpc's OnRPCEnd). A
// Controller's [Controller.SetBackupRequest] still wins over Delay for its call, and turns
// backup requests off with NoBackupRequest; DoBackup is asked in either case. A channel takes
// BackupRequest or BackupPolicy, not both. combo's SelectiveChannel takes a policy the same way,
// for backup requests to a second sub-channel.
//
// [PercentileBackup] is the built-in policy, after Finagle's backup requests: a call waits for
// its first answer as long as Percentile (0.99 by default) of the channel's recent successful
// calls took, then sends its backup request if a budget allows. Latencies go to a histogram of
// atomic counters, 8 logarithmic buckets per power of two of microseconds; every 64th sample
// walks it to store the percentile (the top of its bucket, at most 12.5% above), and halves it
// once it holds more than 2048 samples, so the percentile follows the last few thousand calls.
// The budget is a token bucket: each finished call adds MaxExtraLoad (0.05 by default), each
// backup request takes one token, and the bucket starts with, and never holds more than,
// Reserve tokens (10 by default), so that a cold channel can send a few backup requests and no
// burst is larger. Over n calls a channel thus sends at most Reserve + MaxExtraLoad·n backup
// requests. Until MinSamples calls (100 by default) succeeded the channel sends none, or uses
// Fallback as a fixed delay. The per-call work is a few atomic operations and allocates
// nothing.
//
// # Tracing
//
// With [SystemOptions.TracerProvider] (OpenTelemetry's trace.TracerProvider), every call of the
// System's channels, plain and combo, gets spans that follow the actor tree:
//
//   - a span per call, of kind client, named after the full method ("example.EchoService.Echo"),
//     with OpenTelemetry's RPC attributes (rpc.system "brpc", rpc.service, rpc.method, and
//     server.address and server.port of the server that answered). A call whose ctx carries a span
//     is that span's child. A failed call has an error status, its brpc code as
//     rpc.brpc.error_code and the code's name as error.type ("ERPCTIMEDOUT");
//   - under it, a span per attempt of a plain channel's call, of kind client, named after the
//     method with " attempt", with the server's address, troupe.retry (0 for the first attempt)
//     and troupe.backup_request (whether it is a backup request); an attempt no longer waited for
//     (the other one of a backup pair answered) ends without an error;
//   - under a combo call's span, a span per sub-call (troupe.sub_call is its index), under which
//     the sub-call's own attempts or sub-calls hang. troupe.channel names the call's channel.
//
// The attempt's span travels to the server in brpc's rpcz fields of RpcRequestMeta: trace_id
// holds the low 64 bits of the 128-bit OpenTelemetry trace id (brpc's ids are 64-bit), span_id
// the attempt's span id and parent_span_id the call's span id, each as an int64. Ids set on the
// Controller ([Controller.SetTraceID], [Controller.SetSpanID], [Controller.SetParentSpanID]) win
// over the tracer's, field by field. A span the sampler drops sends no ids at all.
//
// The provider's sampler decides which calls are recorded: sdktrace.TraceIDRatioBased,
// sdktrace.ParentBased and the others apply as for any span. With [ServerOptions.TracerProvider]
// a [Server] starts a span of kind server per request, named after the full method, with
// rpc.* and client.address attributes, which ends once the answer is encoded and queued, with
// the error the client is told (the handler's, ERESPONSE for a response that failed to encode,
// ERPCTIMEDOUT for an answer dropped past the request's deadline): its parent is a remote span
// built from the request's trace_id (as the low 64 bits, the high ones zero) and span_id, marked
// sampled since brpc sends ids only for traced calls, so that a parent-based sampler follows the
// client's decision and a brpc client's rpcz ids and troupe's server agree. A request that carried
// no ids starts a new trace. The wire holds only 64 bits of the trace id: a troupe server's span
// of a troupe client's call thus has the client's trace id with its high 64 bits zeroed, and a
// backend that matches whole trace ids shows the two sides as two traces linked by the parent
// span id, unless the client's provider makes trace ids whose high 64 bits are zero (a custom
// sdktrace.IDGenerator). The handler's ctx carries the span (trace.SpanFromContext), for
// user code to add children. Without a provider nothing is traced, and no allocation is added to
// a call.
//
// # Metrics
//
// Metrics are on by default, on both sides. A plain channel (and combo's parallel and selective
// channels) records, per method, the calls that
// ended, errors by brpc code, calls in flight, retries and backup requests, and latency; a socket
// counts connections, bytes and frames both ways and the writes that carried them. A [Server]
// records, per method, requests answered, errors by code, handler latency, requests in handlers
// and requests rejected by a concurrency limit (ELIMIT) or because it was stopping; per
// connection, bytes both ways, requests and age; server-wide, answers replaced by EOVERCROWDED
// or dropped. [System.Stats], [PlainChannel.Stats] and [Server.Stats] return them as values.
//
// Latency goes to a log-linear histogram of atomic counters (32 buckets per power of two of
// nanoseconds, up to 137 s: a percentile within 1.6 %), and to a ring of the last 60 seconds,
// each second with its calls, errors, latency sum and maximum and a coarser histogram (8 buckets
// per power of two: within about 6 %), which gives the last minute's percentiles and each
// second's p99. The ring advances as calls are recorded: nothing ticks. Recording a call is a
// lock-free lookup of its method (a copy-on-write map), a dozen atomic adds and no allocation;
// a method's record takes about 10 KiB, and 60 KiB once called (its ring of seconds comes with
// its first call). A channel keeps at most 512 methods apart, further ones
// count under "(other)". [SystemOptions.DisableMetrics] and [ServerOptions.DisableMetrics] turn
// the per-method records off.
//
// [SystemOptions.MeterProvider] and [ServerOptions.MeterProvider] export the same metrics
// through OpenTelemetry; troupe never uses the global provider. It follows the RPC semantic
// conventions of semconv v1.26: rpc.client.duration and rpc.server.duration are histograms in
// milliseconds, with rpc.system="brpc" (the protocol is brpc's baidu_std), rpc.service,
// rpc.method and rpc.brpc.error_code (0 for a success, as rpc.grpc.status_code is for gRPC); a
// client's also carry troupe.channel.target. They are recorded as calls end, with attribute
// sets made once per method and code. The rest are observable instruments read from the same
// counters when the reader collects, at no cost per call: troupe.rpc.{client,server}.calls,
// .errors (by rpc.brpc.error_code), .in_flight, .retries, .backup_requests and .rejected;
// troupe.socket.{connections,connections_open,bytes_in,bytes_out,frames_in,frames_out,writes}
// by server.address and server.port; troupe.server.{connections_open,overcrowded,dropped}.
//
// # Debugging: Inspect, rpcz and the console
//
// [System.Inspect] returns the client's live actor tree: channels, the calls in flight (each
// with its method, channel, what it waits on, deadline and time left, log id and retries, and
// its sub-calls) and the sockets. [Server.Inspect] returns a server's: its listeners, its
// methods with their requests in handlers and limits, and its connections with what each
// reader is doing. [SystemOptions.Rpcz] and [ServerOptions.Rpcz] take a recorder of package
// rpcz, which keeps recent sampled calls and requests through the tracing hooks above (the
// recorder wraps the TracerProvider's tracer when there is one). Package console serves all of
// it, with the metrics, as web pages and JSON.
package actors
