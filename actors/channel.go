package actors

import (
	"context"
	"crypto/tls"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/internal/stats"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// Channel is what every troupe channel is — plain channels and combo channels alike — so that
// combo channels nest and user code need not care which kind it holds. A user's own
// implementation nests in combo channels too: they make its sub-calls with its Go, which must
// honour ctx (its deadline and its cancellation) and run done exactly once.
type Channel interface {
	// Call makes a call and waits for it: brpc's synchronous call. cntl may be nil.
	Call(ctx context.Context, method string, req, resp proto.Message, cntl *Controller) error
	// Go starts a call and returns at once: brpc's asynchronous call. done, if not nil, runs
	// exactly once when the call finished, on a goroutine that is not the caller's (except for a
	// call a channel cannot take at all, such as one on a zero value: its done has run when Go
	// returns).
	Go(ctx context.Context, method string, req, resp proto.Message, cntl *Controller, done func(*Controller)) *Call
	// Close releases the channel. Calls in flight finish normally; later calls fail with
	// [ErrClosed].
	Close() error
}

// Defaults of [ChannelOptions], brpc's.
const (
	DefaultTimeout        = 500 * time.Millisecond
	DefaultConnectTimeout = 200 * time.Millisecond
	DefaultMaxRetry       = 3
	// DefaultMaxConnectionPoolSize is brpc's -max_connection_pool_size.
	DefaultMaxConnectionPoolSize = 100
	// DefaultIdleTimeout is brpc's -idle_timeout_second.
	DefaultIdleTimeout = 10 * time.Second
)

// Values that mean "none" wherever a retry limit, a timeout or a backup-request delay is set
// (options and Controller alike, see the package documentation): 0 there means the default.
const (
	// NoRetry turns retries off.
	NoRetry = -1
	// NoTimeout means no deadline.
	NoTimeout time.Duration = -1
	// NoBackupRequest turns backup requests off.
	NoBackupRequest time.Duration = -1
)

// ChannelOptions configures a channel, after brpc's ChannelOptions. The zero value of every field
// means brpc's default; nil options mean all defaults.
type ChannelOptions struct {
	// Timeout bounds each call when its context has no deadline and its Controller no timeout of
	// its own. 0 means DefaultTimeout (500 ms); NoTimeout (any negative value) means no deadline.
	Timeout time.Duration
	// ConnectTimeout bounds each connection attempt. 0 means DefaultConnectTimeout (200 ms).
	ConnectTimeout time.Duration
	// MaxRetry is how many times a call is retried after a failure brpc retries (a broken or
	// refused connection, a stopping or overloaded server), within its deadline. 0 means
	// DefaultMaxRetry (3); NoRetry (any negative value) means none; at most 1000. A timeout is
	// never retried.
	MaxRetry int
	// Protocol must be "" or "baidu_std", the protocol troupe speaks.
	Protocol string
	// ConnectionType is brpc's connection type, case-insensitive:
	//   - "single" (or ""): one connection per server, shared by every channel of the System with
	//     the same connection type and Authenticator, multiplexing all their calls and combining
	//     their writes;
	//   - "pooled": a connection per call in flight, taken from the server's pool and returned to
	//     it once the answer came; at most MaxConnectionPoolSize of them per server, calls beyond
	//     that wait for one to come back;
	//   - "short": a new connection for every attempt, closed once its answer came.
	ConnectionType string
	// MaxConnectionPoolSize bounds the pooled connections to one server. 0 means
	// DefaultMaxConnectionPoolSize (100). Channels sharing a pool share its size: the last
	// channel to make a call sets it.
	MaxConnectionPoolSize int
	// IdleTimeout closes a pooled connection unused for this long. 0 means DefaultIdleTimeout
	// (10 s). Like the pool size, it belongs to the pool the channel shares.
	IdleTimeout time.Duration
	// Authenticator, if set, makes the credential sent with the first request of each new
	// connection (RpcMeta.authentication_data): once per connection with single and pooled
	// connections, once per attempt with short ones. A credential that cannot be made fails the
	// attempts waiting for the connection with ERPCAUTH. Channels share connections only when
	// they share the Authenticator, which must therefore be comparable.
	Authenticator Authenticator
	// MaxUnwrittenBytes bounds the bytes queued on one connection and not yet written (brpc's
	// -socket_max_unwritten_bytes). An attempt whose frame would take a connection past it fails
	// at once with EOVERCROWDED instead of waiting behind a server that does not read; a
	// connection with nothing queued always takes one frame, however large. 0 means
	// DefaultMaxUnwrittenBytes (64 MiB); NoLimit (any negative value) means no bound. Like the
	// pool size, it belongs to the connections the channel shares: the last channel to make a
	// call sets it.
	MaxUnwrittenBytes int64
	// MaxBodySize bounds the body (meta, payload and attachment) of the frames the channel sends
	// and receives (brpc's -max_body_size). A larger request fails before it is sent with
	// EREQUEST, and is not retried; a larger response fails the connection it came on, and a
	// compressed response that would decompress beyond it fails its call with ERESPONSE. 0 means
	// DefaultMaxBodySize (64 MiB); NoLimit (any negative value) means the frame format's own
	// limit, 4 GiB - 1; a larger value is an error.
	MaxBodySize int
	// TLS, if set, makes the channel's connections TLS (brpc's ChannelSSLOptions): single,
	// pooled and short connections, and the health checker's. The server name defaults to the
	// host of the server's address, certificates are verified as the config says (by default
	// against the system's roots), Certificates or GetClientCertificate give mutual TLS, and
	// sessions are resumed on reconnect. A failed handshake fails the call with ESSL, not
	// retried; a handshake is part of connecting, bounded by ConnectTimeout. Channels share
	// connections only when they share the config (the same pointer).
	TLS *tls.Config
	// Dialer, if set, makes the channel's connections in place of TCP: an in-memory pipe, a
	// proxy, a tunnel. With TLS as well, the handshake runs over what it returns. Channels
	// share connections only when they share the Dialer, which must therefore be comparable.
	Dialer Dialer

	// LoadBalancer names the load balancer of a channel to a cluster, by brpc's names ("rr",
	// "random", "wrr", "la", "c_murmurhash", "c_md5", "c_ketama"), with parameters after ':'
	// ("rr:min_working_instances=2 hold_seconds=10"). Empty, and no Balancer: the target is one
	// server's address.
	LoadBalancer string
	// Balancer is a program's own load balancer for a channel to a cluster, in place of
	// LoadBalancer (setting both is an error); the target is then a naming service URL, as with
	// LoadBalancer. A Balancer keeps state, such as la's latencies, about the servers of the
	// channel it serves: give each channel a value of its own. The channel guards it with
	// [lb.Guard], so that its mistakes fail calls with EINTERNAL. See lb's "Writing a balancer".
	Balancer lb.Balancer
	// NamingSchemes adds naming-service schemes to the built-in ones (list, file, http, https),
	// by scheme name: etcd:// is {"etcd": etcd.Scheme(nil)} with package
	// github.com/troupe-rpc/troupe/naming/etcd, or a scheme of the user's.
	NamingSchemes map[string]naming.Builder
	// NamingFilter, if set, drops the servers of the naming service it does not accept.
	NamingFilter naming.Filter
	// HealthCheckInterval is how often an isolated server (one whose connection broke or was
	// refused) is reconnected until it answers again, brpc's -health_check_interval; until then
	// a single-server channel's calls fail at once with EHOSTDOWN and a cluster channel skips
	// the server. 0 means DefaultHealthCheckInterval (3 s).
	HealthCheckInterval time.Duration

	// RetryPolicy decides which failures are retried; nil means DefaultRetryPolicy (brpc's).
	RetryPolicy RetryPolicy
	// EnableCircuitBreaker isolates a server whose error rate spikes (brpc's circuit breaker: by
	// default two windows of 3000 and 1500 attempts tolerating 5% and 10% errors), for 100 ms the
	// first time and twice as long each time it breaks again within 30 s, up to 30 s; its
	// settings are the System's, [SystemOptions.CircuitBreaker]. During the isolation attempts to
	// the server fail at once with EHOSTDOWN (a cluster channel's balancer skips it). Off by
	// default, as in brpc.
	EnableCircuitBreaker bool
	// BackupRequest, when positive, sends a second attempt to another server if the first has not
	// answered after this long; the first good answer wins. It uses one of MaxRetry's retries;
	// with none left the call just waits for its first attempt. 0 (the default) and
	// NoBackupRequest mean no backup requests. Setting it and BackupPolicy is an error.
	BackupRequest time.Duration
	// BackupPolicy decides each call's backup-request delay and whether the backup request
	// goes, in place of a fixed BackupRequest (brpc's ChannelOptions.backup_request_policy);
	// nil means none. A Controller's SetBackupRequest still wins for its call. A policy that
	// keeps state, such as [PercentileBackup]'s, learns from the channel it serves: give each
	// channel a value of its own.
	BackupPolicy BackupPolicy

	// Interceptors run around every call of the channel, the first outermost (see
	// [Interceptor]): around Call and Go alike, and around the sub-calls a combo channel makes
	// on it. The channel's retries and backup requests happen inside the last one's next. None
	// by default; a nil element is an error.
	Interceptors []Interceptor
}

// validate fills defaults into a copy of opts and checks every field.
func (o *ChannelOptions) validate() (ChannelOptions, error) {
	var v ChannelOptions
	if o != nil {
		v = *o
	}
	if v.Timeout == 0 {
		v.Timeout = DefaultTimeout
	}
	v.Timeout = max(v.Timeout, NoTimeout)
	if v.BackupRequest != 0 && v.BackupPolicy != nil {
		return v, fmt.Errorf("troupe: ChannelOptions.BackupRequest = %v and ChannelOptions.BackupPolicy = %T are both set, want one of them",
			v.BackupRequest, v.BackupPolicy)
	}
	v.BackupRequest = max(v.BackupRequest, 0)
	if v.ConnectTimeout < 0 {
		return v, fmt.Errorf("troupe: ChannelOptions.ConnectTimeout = %v, want > 0", v.ConnectTimeout)
	}
	if v.ConnectTimeout == 0 {
		v.ConnectTimeout = DefaultConnectTimeout
	}
	switch {
	case v.MaxRetry == 0:
		v.MaxRetry = DefaultMaxRetry
	case v.MaxRetry < 0:
		v.MaxRetry = 0
	case v.MaxRetry > callrt.MaxRetryLimit:
		v.MaxRetry = callrt.MaxRetryLimit
	}
	if p := strings.ToLower(strings.TrimSpace(v.Protocol)); p != "" && p != "baidu_std" {
		return v, fmt.Errorf("troupe: ChannelOptions.Protocol = %q: unknown protocol (known: baidu_std)", v.Protocol)
	}
	if err := v.validateConnections(); err != nil {
		return v, err
	}
	if err := v.validateTransport(); err != nil {
		return v, err
	}
	if err := v.validateWriteLimits(); err != nil {
		return v, err
	}
	if err := v.validateInterceptors(); err != nil {
		return v, err
	}
	if v.HealthCheckInterval < 0 {
		return v, fmt.Errorf("troupe: ChannelOptions.HealthCheckInterval = %v, want > 0", v.HealthCheckInterval)
	}
	if v.HealthCheckInterval == 0 {
		v.HealthCheckInterval = DefaultHealthCheckInterval
	}
	v.LoadBalancer = strings.TrimSpace(v.LoadBalancer)
	if v.LoadBalancer != "" && v.Balancer != nil {
		return v, fmt.Errorf("troupe: ChannelOptions.LoadBalancer = %q and ChannelOptions.Balancer = %T are both set, want one of them",
			v.LoadBalancer, v.Balancer)
	}
	return v, nil
}

// backupEnded tells the channel's backup policy that call c ended, under recover: a panic of the
// user's code must not take the call's actor down.
func (ch *PlainChannel) backupEnded(p BackupPolicy, c *callrt.Controller) {
	defer func() {
		if r := recover(); r != nil {
			ch.sys.log.Error("troupe: BackupPolicy.OnCallEnd panicked", "channel", ch.target, "panic", fmt.Sprint(r))
		}
	}()
	p.OnCallEnd((*Controller)(c))
}

// clustered reports whether the options make a channel to a cluster: one with a load balancer.
func (v *ChannelOptions) clustered() bool { return v.LoadBalancer != "" || v.Balancer != nil }

// validateConnections checks the connection type, the pool's settings and the Authenticator, and
// fills their defaults; ConnectionType becomes its canonical name.
func (v *ChannelOptions) validateConnections() error {
	typ, err := parseConnType(v.ConnectionType)
	if err != nil {
		return fmt.Errorf("troupe: ChannelOptions.ConnectionType = %q: %v", v.ConnectionType, err)
	}
	v.ConnectionType = typ.String()
	if v.MaxConnectionPoolSize < 0 {
		return fmt.Errorf("troupe: ChannelOptions.MaxConnectionPoolSize = %d, want > 0", v.MaxConnectionPoolSize)
	}
	if v.MaxConnectionPoolSize == 0 {
		v.MaxConnectionPoolSize = DefaultMaxConnectionPoolSize
	}
	if v.IdleTimeout < 0 {
		return fmt.Errorf("troupe: ChannelOptions.IdleTimeout = %v, want > 0", v.IdleTimeout)
	}
	if v.IdleTimeout == 0 {
		v.IdleTimeout = DefaultIdleTimeout
	}
	if v.Authenticator != nil && !reflect.ValueOf(v.Authenticator).Comparable() {
		return fmt.Errorf("troupe: ChannelOptions.Authenticator of type %T is not comparable: use a pointer", v.Authenticator)
	}
	return nil
}

// PlainChannel is brpc's Channel: to one server, or to the servers of a naming service through a
// load balancer. Every call goes to a server's socket actor, which it shares with every other
// channel of the System that talks to the same server. It is safe for concurrent use. Make it
// with [System.NewChannel]: a zero PlainChannel fails every call with EINVAL.
type PlainChannel struct {
	nest // how combo channels start child calls on it

	sys     *System
	policy  callrt.Policy // opts.RetryPolicy, in the runtime's terms
	target  string
	opts    ChannelOptions
	sock    *socket  // the server of a single-server channel
	cluster *cluster // the servers of a cluster channel
	pid     *actor.PID
	born    time.Time
	closed  atomic.Bool // Close was called: new calls are refused
	stopped atomic.Bool // the channel's actor and socket were let go
	once    sync.Once

	inflight, succeeded, failed atomic.Int64
	lastErr                     atomic.Pointer[string]
	onEnd                       func(*callrt.Controller, error) // record, made once rather than per call
	icpt                        Interceptor                     // opts.Interceptors chained; nil for none
	stats                       *stats.Table                    // per-method metrics; nil when disabled
}

// NewChannel makes a channel. Without a LoadBalancer or a Balancer in opts, target is one server,
// "host:port" (brpc's Channel::Init with a single server). With one, target is a naming service
// URL —
// "list://a,b", "file://servers.txt", "http://host:port", or a scheme of NamingSchemes such as
// "etcd://host:port/prefix" — whose servers the channel balances over; it follows the list as it
// changes and isolates servers whose connections break until they answer again. NewChannel neither connects nor waits for the first
// server list: a call made before it arrives waits for it within the call's deadline. It returns
// an error for a malformed address, an unknown scheme or load balancer, invalid options, and
// ErrClosed after Shutdown.
func (s *System) NewChannel(target string, opts *ChannelOptions) (*PlainChannel, error) {
	if !s.usable() {
		return nil, errNoSystem()
	}
	o, err := opts.validate()
	if err != nil {
		return nil, err
	}
	if o.clustered() {
		return s.newClusterChannel(target, &o)
	}
	ep, err := wire.ParseEndpoint(target)
	if err != nil {
		return nil, fmt.Errorf("troupe: NewChannel: %w", err)
	}
	sock, err := s.socketFor(ep, &o)
	if err != nil {
		return nil, err
	}
	ch := &PlainChannel{sys: s, target: ep.String(), opts: o, sock: sock, born: time.Now()}
	if err := s.addChannel(ch, &channelActor{ch: ch}); err != nil {
		s.releaseSocket(sock)
		return nil, err
	}
	ch.watchHealth()
	return ch, nil
}

func (s *System) newClusterChannel(target string, o *ChannelOptions) (*PlainChannel, error) {
	cl, err := newCluster(s, target, o)
	if err != nil {
		return nil, err
	}
	ch := &PlainChannel{sys: s, target: target, opts: *o, cluster: cl, born: time.Now()}
	a := &clusterActor{ch: ch, cl: cl, socks: map[string]*socket{}, down: map[string]bool{}}
	if err := s.addChannel(ch, a); err != nil {
		return nil, err
	}
	return ch, nil
}

// addChannel starts the channel's actor and records the channel for Inspect and Shutdown.
func (s *System) addChannel(ch *PlainChannel, a actor.Actor) error {
	ch.onEnd = ch.record
	ch.stats = s.newStatsTable(ch.target)
	ch.icpt = ChainInterceptors(ch.opts.Interceptors...)
	ch.policy = runtimePolicy(ch.opts.RetryPolicy)
	backupRuntime(&ch.policy, ch.opts.BackupPolicy)
	ch.nest = callrt.MakeNest(ch.startChild)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed() {
		return callrt.ClosedError("")
	}
	name := fmt.Sprintf("%s/channels/ch-%d", s.name, s.nextID.Add(1))
	if ch.cluster != nil {
		ch.cluster.mu.Lock() // the actor's first post must find its PID set
		defer ch.cluster.mu.Unlock()
	}
	pid, err := s.as.Root.SpawnNamed(s.props(a, false), name)
	if err != nil {
		return err
	}
	ch.pid = pid
	if ch.cluster != nil {
		ch.cluster.pid = pid
	}
	s.channels[ch] = struct{}{}
	return nil
}

// Target returns the server address or the naming service URL the channel calls ("" for a zero
// PlainChannel).
func (ch *PlainChannel) Target() string { return ch.target }

// Call makes a call and waits until it finished. See [Channel].
func (ch *PlainChannel) Call(ctx context.Context, method string, req, resp proto.Message, cntl *Controller) error {
	if ch.icpt != nil {
		return callrt.RunInline(ch.intercept(ctx, method, req, resp, cntl.rt(), nil, nil, 0, true))
	}
	return ch.call(ctx, method, req, resp, cntl.rt())
}

// Go starts a call and returns at once. See [Channel].
func (ch *PlainChannel) Go(ctx context.Context, method string, req, resp proto.Message, cntl *Controller, done func(*Controller)) *Call {
	if ch.icpt != nil {
		return (*Call)(ch.intercept(ctx, method, req, resp, cntl.rt(), done, nil, 0, false))
	}
	return ch.start(ctx, method, req, resp, cntl.rt(), done, nil, 0, nil)
}

// nest is the channel's [callrt.Nest], embedded under this name so that it stays unexported.
type nest = callrt.Nest

// Close releases the channel: later calls fail at once with ELOGOFF ([ErrClosed]), and calls in
// flight complete normally (retries and backup requests included), the channel keeping its
// server list and sockets until the last of them ended. The socket it used stays with the System
// for other channels. Close is idempotent.
func (ch *PlainChannel) Close() error {
	if ch.sys == nil {
		return nil
	}
	ch.closed.Store(true)
	if ch.inflight.Load() == 0 { // else the last call's end stops the channel
		ch.stop()
	}
	return nil
}

// stopLater stops a closed channel whose last call just ended, on a goroutine of the System:
// the call's actor must not wait for the channel's. During Shutdown, stopAll stops it instead.
func (ch *PlainChannel) stopLater() {
	s := ch.sys
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed() {
		s.goroutine(ch.stop)
	}
}

func (ch *PlainChannel) stop() {
	ch.once.Do(func() {
		ch.closed.Store(true)
		ch.stopped.Store(true)
		ch.unwatchHealth()
		_ = ch.sys.as.Root.StopFuture(ch.pid).Wait() // a cluster's actor lets its sockets go
		ch.sys.mu.Lock()
		delete(ch.sys.channels, ch)
		ch.sys.mu.Unlock()
		if ch.sock != nil {
			ch.sys.releaseSocket(ch.sock)
		}
	})
}

// record counts a call's end and tells the backup policy of it; the last call of a closed
// channel stops it.
func (ch *PlainChannel) record(c *callrt.Controller, err error) {
	if p := ch.opts.BackupPolicy; p != nil {
		ch.backupEnded(p, c)
	}
	if err == nil {
		ch.succeeded.Add(1)
	} else {
		ch.failed.Add(1)
		s := err.Error()
		ch.lastErr.Store(&s)
	}
	if ch.inflight.Add(-1) == 0 && ch.closed.Load() {
		ch.stopLater()
	}
}
