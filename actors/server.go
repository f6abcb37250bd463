package actors

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/internal/stats"
	"github.com/troupe-rpc/troupe/rpcz"
	"github.com/troupe-rpc/troupe/wire"
)

// ErrServerClosed is returned by [Server.Serve] after [Server.Shutdown], like net/http's.
var ErrServerClosed = errors.New("troupe: server closed")

// ServerOptions configures a [Server]. The zero value (or nil) gives brpc's defaults.
type ServerOptions struct {
	// MaxConcurrency bounds the requests handled at once; beyond it requests are answered with
	// ELIMIT. 0 means no limit (brpc's ServerOptions.max_concurrency). It is checked before
	// MethodMaxConcurrency.
	MaxConcurrency int
	// MethodMaxConcurrency bounds the requests of each method handled at once, as brpc's
	// per-method max_concurrency (Server::MaxConcurrencyOf) does. A key is a full method name,
	// "example.EchoService.Echo", or "*" for every method without an entry of its own (brpc's
	// ServerOptions.method_max_concurrency); a value is
	// "N" (N > 0) for a fixed limit, "auto" for brpc's auto concurrency limiter, which adapts the
	// limit to the method's no-load latency and peak QPS, or "unlimited" (or "0") for none.
	// Requests beyond a method's limit are answered with ELIMIT, naming the method and the limit,
	// without running the handler. NewServer rejects a bad value with EINVAL; Listen and Serve
	// reject a key that names no registered method with ENOMETHOD. nil (the default) limits no
	// method. See "Overload control" in the package documentation.
	MethodMaxConcurrency map[string]string
	// MaxBodySize is the largest request body accepted; a larger frame closes the connection.
	// 0 means wire.DefaultMaxBodySize (64 MiB).
	MaxBodySize int
	// Logger receives the server's warnings (handler panics, bad frames). nil discards them.
	Logger *slog.Logger
	// Authenticator, if set, checks the credential (RpcMeta.authentication_data) of each
	// connection's first request; later requests on an accepted connection are not checked
	// again. A connection whose first request brings no credential, or one VerifyCredential
	// refuses, gets ERPCAUTH ("Fail to authenticate: …") for that request, nothing else, and is
	// closed. Without an Authenticator, credentials are ignored.
	Authenticator ServerAuthenticator
	// NoInPlace hands every request to a worker goroutine. By default the last request of
	// each read from a connection is handled on the connection's reading goroutine, as brpc
	// does: a connection with one request at a time saves a goroutine wake-up per call. The
	// requests of a method whose handler takes less than 20 µs on average are all handled
	// there, in the order they came, their answers leaving together (a batch costs no wake-up
	// and one write); a method whose handler takes a millisecond or more on average always runs
	// on workers. A handler that runs in place longer than about 10 ms has the connection's
	// reading moved to a new goroutine, which first sends the answers waiting behind it, so an
	// occasionally slow handler delays the requests behind it on its connection by 10 to 20 ms
	// at most. Set NoInPlace when that is too much.
	NoInPlace bool
	// ReadPoll is how long a connection's reader polls the socket, instead of parking, after a
	// read that brought a single request, as from a client that makes one call at a time: 0
	// means [DefaultReadPoll] (100 µs), a negative value never. It spares such a client's next
	// request the wake-up of a parked reader, tens of µs on a virtual machine, for the CPU the
	// reader spends polling. Readers poll on Linux, on plain TCP (not TLS) connections, at most
	// half the processors' worth at once in a process; an idle server polls nothing.
	ReadPoll time.Duration

	// MaxConnections bounds the connections served at once: a connection accepted beyond it
	// is closed at once, with a warning logged at most once a second. 0 (the default) means no
	// limit. brpc has no such flag (the closest is the process's descriptor limit).
	MaxConnections int
	// IdleTimeout closes a connection on which no request has arrived for that long while no
	// request of it was in a handler, like brpc's ServerOptions.idle_timeout_sec (the
	// -idle_timeout_s flag of its example servers; default -1, off). One goroutine per server
	// looks at the connections every IdleTimeout/4 (at least every 10 ms), so a connection is
	// closed between IdleTimeout and about 1.25 IdleTimeout after it fell idle. 0 (the
	// default) means never; negative is invalid.
	IdleTimeout time.Duration
	// MaxUnwrittenBytes bounds the answers waiting in a connection's write buffer, like brpc's
	// -socket_max_unwritten_bytes (64 MiB there and here). An answer that would take a
	// connection past it (unless nothing else waits) is replaced by an EOVERCROWDED error frame,
	// and the connection's reader stops reading until the backlog drains below half; past the
	// limit plus 256 bytes per MaxConnectionRequests, even error frames are dropped (and
	// counted in the warning). A client that never reads its answers thus holds about this much
	// of the server's memory. 0 means 64 MiB; a negative value means no limit.
	MaxUnwrittenBytes int64
	// MaxRequestMemory bounds the memory held, server-wide, by requests read and not done:
	// each request's frame and decompression buffer, and as much as its payload again for the
	// message parsed from it, count from when it is read until its handler returns. A request
	// read while the budget is spent, or whose decompression would exceed what is left, is
	// answered ELIMIT ("request memory budget … exceeded") instead of being inflated. 0 means
	// 256 MiB, or MaxBodySize if that is larger; a negative value means no budget; a positive
	// value below MaxBodySize is invalid. brpc has no such flag.
	MaxRequestMemory int64
	// MaxConnectionRequests bounds the requests of one connection in handlers at once: when a
	// connection has that many, its reader stops reading until one returns, so a client that
	// pipelines requests for a slow method holds at most that many goroutines. 0 means 1024;
	// negative is invalid. brpc has no such flag (a bthread per request costs less there).
	MaxConnectionRequests int

	// TLS, if set, serves TLS on the server's listeners, beside plain baidu_std: the first byte
	// of each connection tells them apart, as with brpc's servers with SSL options. It needs a
	// certificate: Certificates, or GetCertificate (which also renews certificates without a
	// restart) or GetConfigForClient. For mutual TLS set ClientAuth and ClientCAs; a handler
	// reads the client's verified certificates from [ServerCall.TLS].
	TLS *tls.Config
	// RequireTLS refuses plain connections: the first request of one is answered with ESSL
	// ("The server requires TLS…") and the connection closed. It needs TLS.
	RequireTLS bool
	// TLSHandshakeTimeout bounds a TLS handshake; a connection that does not finish it in time
	// is closed. 0 means DefaultTLSHandshakeTimeout (10 s).
	TLSHandshakeTimeout time.Duration

	// Interceptors run around the handler of every parsed request, the first outermost: with
	// [A, B], A is called first, B runs inside A's call to its handler argument, the method's
	// handler inside B's, and A sees the final response and error last. A nil element is
	// invalid. nil (the default) calls handlers directly, at no cost. See [ServerInterceptor].
	Interceptors []ServerInterceptor

	// TracerProvider, when set, gives every request a span of kind server, the child of the
	// span the client sent in RpcRequestMeta (see "Tracing" in the package documentation); the
	// handler's ctx carries it. nil, the default, traces nothing at no cost.
	TracerProvider trace.TracerProvider
	// Rpcz, when set, keeps the server's recent sampled requests (package rpcz), with their
	// method, client, log id, time and result, for the console's /rpcz page. One Recorder may
	// serve a System and Servers together. nil, the default, records nothing.
	Rpcz *rpcz.Recorder
	// DisableMetrics turns off the per-method metrics of [Server.Stats]: a request then skips
	// its method's record (about 0.2 µs). Connection counters stay.
	DisableMetrics bool
	// MeterProvider, when set, receives the server's metrics through OpenTelemetry: the
	// rpc.server.duration histogram, per-method and server counters (see the package
	// documentation's Metrics section). troupe never uses the global provider.
	MeterProvider metric.MeterProvider
}

// Method is a handler registered under a full method name: NewRequest makes an empty request to
// parse into, Handle answers it. [Handle] builds one from a typed function.
type Method struct {
	NewRequest func() proto.Message
	Handle     func(ctx context.Context, req proto.Message) (proto.Message, error)
}

// method is a registered Method and what the server learnt of it.
type method struct {
	Method
	name string // "example.EchoService.Echo"
	// cost is a moving average of how long the method's handler runs, in nanoseconds (0: never
	// called); it decides where its requests run (see server_inplace.go).
	cost atomic.Int64
	// limit is the method's concurrency limiter, set when the server starts; nil: none.
	limit *methodLimit
	// handle is Handle behind the server's interceptors, or Handle itself without any.
	handle ServerHandler
	// stats is the method's metrics (metrics_server.go); nil when they are disabled.
	stats *stats.Method
}

// Server serves brpc's baidu_std protocol: brpc clients and troupe channels can call the methods
// registered on it. Each connection has a reader goroutine. It handles the last request of each
// read itself (brpc's rule) and, for methods whose handlers are quick (tens of microseconds),
// every request of the read, sending their answers in one write; other requests run on worker
// goroutines, whose answers leave as soon as they are ready, several to one write when they pile
// up. See [ServerOptions.NoInPlace].
//
// Register every method before Serve. A Server is safe for concurrent use; it cannot be restarted
// after Shutdown.
type Server struct {
	opts     ServerOptions
	log      *slog.Logger
	methods  map[string]*method            // "example.EchoService.Echo"
	short    map[string]string             // "EchoService" -> "example.EchoService"
	services map[string]map[string]*method // "example.EchoService" -> "Echo" -> its method

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	closing   atomic.Bool
	inflight  atomic.Int64
	idle      chan struct{} // closed once no request is in progress after closing began
	idleOnce  sync.Once
	wg        sync.WaitGroup // accept loops, connection readers and the in-place watchdog
	workers   workerPool     // request goroutines
	watch     *inPlaceWatch
	stopped   chan struct{} // closed when Shutdown begins

	reqMem    atomic.Int64 // bytes held by requests read and not done (server_budget.go)
	dropped   atomic.Int64 // answers dropped on overcrowded connections (server_write.go)
	crowded   atomic.Int64 // answers replaced by EOVERCROWDED (server_write.go)
	otel      *otelServer  // nil without ServerOptions.MeterProvider
	acceptLog serverLogLimiter
	connLog   serverLogLimiter
	tlsLog    serverLogLimiter
	crowdLog  serverLogLimiter // overcrowded connections
	budgetLog serverLogLimiter // requests refused by the request memory budget
	idleStart sync.Once
	tracer    trace.Tracer // from ServerOptions.TracerProvider and Rpcz; nil: requests are not traced
	rpcz      *rpcz.Recorder
}

// errNoServer is the error of using a Server's zero value.
func errNoServer() error {
	return fmt.Errorf("troupe: the Server is not initialized: make it with NewServer: %w", wire.EINVAL)
}

// NewServer returns a Server with no methods. It returns an error for invalid options.
func NewServer(opts *ServerOptions) (*Server, error) {
	var o ServerOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxConcurrency < 0 {
		return nil, fmt.Errorf("troupe: ServerOptions.MaxConcurrency = %d, want >= 0", o.MaxConcurrency)
	}
	if o.MaxBodySize < 0 {
		return nil, fmt.Errorf("troupe: ServerOptions.MaxBodySize = %d, want >= 0", o.MaxBodySize)
	}
	if o.MaxBodySize == 0 {
		o.MaxBodySize = wire.DefaultMaxBodySize
	}
	if err := o.validateTLS(); err != nil {
		return nil, err
	}
	if err := o.setLimits(); err != nil {
		return nil, err
	}
	if err := checkLimitValues(o.MethodMaxConcurrency); err != nil {
		return nil, err
	}
	if err := checkInterceptors(o.Interceptors); err != nil {
		return nil, err
	}
	o.MethodMaxConcurrency = maps.Clone(o.MethodMaxConcurrency)
	o.Interceptors = slices.Clone(o.Interceptors)
	s := &Server{
		opts: o, log: loggerOrDiscard(o.Logger),
		methods: map[string]*method{}, short: map[string]string{}, services: map[string]map[string]*method{},
		listeners: map[net.Listener]struct{}{}, conns: map[*serverConn]struct{}{},
		idle: make(chan struct{}), workers: newWorkerPool(), stopped: make(chan struct{}),
	}
	if err := s.newOtelServer(o.MeterProvider); err != nil {
		return nil, fmt.Errorf("troupe: ServerOptions.MeterProvider: %w", err)
	}
	s.watch = newInPlaceWatch(s)
	s.tracer = o.Rpcz.Tracer(tracerOf(o.TracerProvider))
	s.rpcz = o.Rpcz
	return s, nil
}

// Register adds a handler under its full method name, "package.Service.Method". A name without
// a service, a duplicate, or registration after Serve began is an error.
func (s *Server) Register(fullMethod string, m Method) error {
	if s.idle == nil {
		return errNoServer()
	}
	svc, name, err := splitMethod(fullMethod)
	if err != nil {
		return err
	}
	if m.NewRequest == nil || m.Handle == nil {
		return fmt.Errorf("troupe: method %s: NewRequest and Handle must be set", fullMethod)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) > 0 || s.closing.Load() {
		return fmt.Errorf("troupe: method %s registered after the server started", fullMethod)
	}
	if _, dup := s.methods[fullMethod]; dup {
		return fmt.Errorf("troupe: method %s registered twice", fullMethod)
	}
	full := svc + "." + name
	s.methods[full] = &method{Method: m, name: full, handle: chain(s.opts.Interceptors, m.Handle),
		stats: s.newMethodStats(full)}
	if s.services[svc] == nil {
		s.services[svc] = map[string]*method{}
	}
	s.services[svc][name] = s.methods[full]
	s.short[svc[strings.LastIndexByte(svc, '.')+1:]] = svc
	return nil
}

// Handle registers a typed handler: fn receives a freshly parsed request and returns the response
// or an error. An error that is (or wraps) a [wire.Errno] or [*wire.Error] is sent with its code;
// any other error is sent as EINTERNAL with its text. Req is the request's message struct, inferred
// from fn: Handle(srv, "example.EchoService.Echo", func(ctx context.Context, req
// *echopb.EchoRequest) (*echopb.EchoResponse, error) {…}).
func Handle[Req any, PReq interface {
	*Req
	proto.Message
}, Resp proto.Message](s *Server, fullMethod string, fn func(context.Context, PReq) (Resp, error)) error {
	return s.Register(fullMethod, Method{
		NewRequest: func() proto.Message { return PReq(new(Req)) },
		Handle: func(ctx context.Context, req proto.Message) (proto.Message, error) {
			resp, err := fn(ctx, req.(PReq))
			if err != nil {
				return nil, err
			}
			return resp, nil
		},
	})
}

// splitMethod splits "package.Service.Method" into "package.Service" and "Method".
func splitMethod(full string) (service, method string, err error) {
	i := strings.LastIndexByte(full, '.')
	if i <= 0 || i == len(full)-1 {
		return "", "", fmt.Errorf("troupe: method name %q is not of the form Service.Method", full)
	}
	return full[:i], full[i+1:], nil
}

// Listen listens on addr ("127.0.0.1:0" for a free port, or "unix:path" for a unix domain
// socket, as brpc's servers take it) and serves it in a goroutine the Server owns. It returns the
// address actually bound; a unix socket's file is removed when the server shuts down.
func (s *Server) Listen(addr string) (net.Addr, error) {
	if s.idle == nil {
		return nil, errNoServer()
	}
	network, address := "tcp", addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", path
	}
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	if err := s.track(l); err != nil {
		l.Close()
		return nil, err
	}
	s.wg.Go(func() { s.acceptLoop(l) })
	return l.Addr(), nil
}

// Serve accepts connections on l until Shutdown, and then returns ErrServerClosed. It returns
// another error only when l is closed by someone else; other accept errors are logged and
// retried (see server_accept.go). Either way it closes l, also when called
// after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	defer l.Close()
	if s.idle == nil {
		return errNoServer()
	}
	if err := s.track(l); err != nil {
		return err
	}
	return s.acceptLoop(l)
}

// lookup finds the method for a request's service and method names, answering with brpc's codes:
// ENOSERVICE for an unknown service (by full or short name), ENOMETHOD for an unknown method.
// It allocates nothing for a request it finds.
func (s *Server) lookup(service, methodName []byte) (*method, string, *wire.Error) {
	var methods map[string]*method
	svc := ""
	if bytes.IndexByte(service, '.') < 0 {
		if full, ok := s.short[string(service)]; ok {
			svc, methods = full, s.services[full]
		}
	} else {
		methods = s.services[string(service)]
		svc = string(service)
	}
	if methods == nil {
		return nil, "", &wire.Error{Code: wire.ENOSERVICE, Text: "Fail to find service=" + string(service)}
	}
	m, ok := methods[string(methodName)]
	if !ok {
		return nil, "", &wire.Error{Code: wire.ENOMETHOD, Text: "Fail to find method=" + svc + "/" + string(methodName)}
	}
	return m, m.name, nil
}

// admit counts a request in, or refuses it with ELOGOFF while stopping or ELIMIT over the limit.
// It counts first and checks after, so that Shutdown, which sets closing and then waits for the
// count to reach zero, never misses a request it admitted.
func (s *Server) admit() *wire.Error {
	n := s.inflight.Add(1)
	if s.closing.Load() {
		s.release()
		return &wire.Error{Code: wire.ELOGOFF, Text: "Server is stopping"}
	}
	if limit := s.opts.MaxConcurrency; limit > 0 && n > int64(limit) {
		s.release()
		return &wire.Error{Code: wire.ELIMIT, Text: fmt.Sprintf("Reached server's max_concurrency=%d", limit)}
	}
	return nil
}

func (s *Server) release() {
	if s.inflight.Add(-1) == 0 && s.closing.Load() {
		s.idleOnce.Do(func() { close(s.idle) })
	}
}

// Connections returns how many client connections the server has open.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops the server gracefully: it stops accepting, answers new requests with ELOGOFF,
// waits for the requests in progress to finish and their responses to be written, closes every
// connection, and returns once every goroutine of the server is gone. If ctx ends first, the
// contexts of the handlers still running are cancelled, the connections are closed, and Shutdown
// returns ctx's error once the server's own goroutines are gone (a handler that ignores its
// context may outlive it). Shutdown is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.idle == nil {
		return nil
	}
	s.mu.Lock()
	if !s.closing.Swap(true) {
		close(s.stopped)
	}
	for l := range s.listeners {
		l.Close()
	}
	s.mu.Unlock()
	s.stopOtel()
	err := s.waitIdle(ctx)
	s.mu.Lock()
	conns := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	for _, c := range conns {
		if err == nil { // every request answered: let their responses leave first
			c.drain(deadline)
		}
		c.close()
	}
	s.watch.close()
	s.wg.Wait()
	s.workers.close(err == nil)
	return err
}

func (s *Server) waitIdle(ctx context.Context) error {
	if s.inflight.Load() == 0 {
		s.idleOnce.Do(func() { close(s.idle) })
	}
	select {
	case <-s.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Rpcz returns the recorder of the server's recent requests, [ServerOptions.Rpcz]; nil when it
// has none.
func (s *Server) Rpcz() *rpcz.Recorder {
	if s == nil {
		return nil
	}
	return s.rpcz
}
