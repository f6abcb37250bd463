package actors

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/rpcz"
	"github.com/troupe-rpc/troupe/wire"
)

// ErrClosed is the cause of every call failed or refused because its [System] shut down or its
// channel was closed. Such a call's error is also ELOGOFF: errors.Is(err, ErrClosed) and
// errors.Is(err, wire.ELOGOFF) both hold.
var ErrClosed = callrt.ErrClosed

// SystemOptions configures a [System]. nil or the zero value gives the defaults.
type SystemOptions struct {
	// Logger receives troupe's and protoactor's logs. nil discards them; troupe never prints to
	// standard output.
	Logger *slog.Logger
	// ActorSystem is a protoactor system to run on instead of one of troupe's own. troupe registers
	// its actors in it and never shuts it down; its logger stays as the owner configured it.
	ActorSystem *actor.ActorSystem
	// Workers is the number of dispatcher goroutines every troupe actor runs on
	// (mailbox.DefaultWorkers when 0).
	Workers int
	// CircuitBreaker tunes the circuit breaker of the channels that enable it
	// (ChannelOptions.EnableCircuitBreaker). The zero value gives brpc's defaults.
	CircuitBreaker CircuitBreakerOptions
	// TracerProvider, when set, traces every call of the System's channels, plain and combo:
	// see "Tracing" in the package documentation. nil, the default, traces nothing at no cost.
	TracerProvider trace.TracerProvider
	// Rpcz, when set, keeps the System's recent sampled calls (package rpcz): each call with
	// its attempts, retries, backup requests and sub-calls, their servers, codes and times, for
	// the console's /rpcz page. nil, the default, records nothing.
	Rpcz *rpcz.Recorder
	// DisableMetrics turns off the per-method metrics of the System's channels ([System.Stats]):
	// a call then skips its method's record (about 0.2 µs). Socket counters stay.
	DisableMetrics bool
	// MeterProvider, when set, receives the System's metrics through OpenTelemetry: the
	// rpc.client.duration histogram, per-method counters and socket counters (see the
	// package documentation's Metrics section). troupe never uses the global provider.
	MeterProvider metric.MeterProvider
	// ReadPoll is how long the reader of a channel's connection polls the socket, instead of
	// parking, while a single call waits on the connection and the answer before it came alone
	// (no other call waited meanwhile: a caller making one call at a time): 0 means
	// [DefaultReadPoll] (100 µs), a negative value never. A parked reader is woken by another
	// thread, which on a virtual machine costs tens of µs, more than a quick call's round trip;
	// polling spares a lone caller that wake-up for the CPU it spends polling. Readers poll on
	// Linux, on plain TCP (not TLS) single connections, at most half the processors' worth at
	// once in a process. An idle process polls nothing.
	ReadPoll time.Duration
}

// System owns everything troupe starts: the protoactor actor system (unless the user gave one),
// the dispatcher pool, the channel, call and socket actors, and every goroutine they use. It is
// safe for concurrent use. One per process is typical; [System.Shutdown] stops all of it. Make it
// with [NewSystem]: the zero value is not usable (its channels' calls fail with EINVAL).
type System struct {
	link // lets the channels of package combo reach rt

	rt    *callrt.Runtime
	as    *actor.ActorSystem
	ownAS bool
	log   *slog.Logger
	// clientLog limits the lines logged about failing connections to servers.
	clientLog *clientLogLimiter
	// breaker holds the circuit breaker's settings, from SystemOptions.CircuitBreaker.
	breaker breakerParams
	name    string // prefix of every registry id troupe uses for this System
	rpcz    *rpcz.Recorder
	// noMetrics is SystemOptions.DisableMetrics.
	noMetrics bool
	readPoll  time.Duration // SystemOptions.ReadPoll, resolved
	otel      *otelClient   // nil without SystemOptions.MeterProvider
	started   time.Time

	mu       sync.Mutex
	sockets  map[sockKey]*socket
	retiring map[*socket]struct{} // sockets no channel uses, finishing their calls
	quit     chan struct{}        // closed when Shutdown starts
	channels map[*PlainChannel]struct{}
	nextID   atomic.Int64 // correlation ids and channel numbers

	deadLetters *eventstream.Subscription
	shutdown    sync.Once
}

// link is the System's [callrt.Link], embedded under this name so that it stays unexported.
type link = callrt.Link

// NewSystem starts a System. It returns an error naming the option that is invalid.
func NewSystem(opts *SystemOptions) (*System, error) {
	var o SystemOptions
	if opts != nil {
		o = *opts
	}
	if o.Workers < 0 {
		return nil, fmt.Errorf("troupe: SystemOptions.Workers = %d, want >= 0", o.Workers)
	}
	bp, err := o.CircuitBreaker.params()
	if err != nil {
		return nil, err
	}
	s := &System{
		log: loggerOrDiscard(o.Logger), started: time.Now(), breaker: bp,
		sockets: map[sockKey]*socket{}, retiring: map[*socket]struct{}{}, quit: make(chan struct{}),
		channels: map[*PlainChannel]struct{}{}, noMetrics: o.DisableMetrics, readPoll: readPoll(o.ReadPoll),
	}
	s.clientLog = newClientLogLimiter(s.log)
	if err := s.newOtelClient(o.MeterProvider); err != nil {
		return nil, fmt.Errorf("troupe: SystemOptions.MeterProvider: %w", err)
	}
	s.as, s.ownAS = o.ActorSystem, o.ActorSystem == nil
	if s.ownAS {
		log := s.log
		s.as = actor.NewActorSystem(
			actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }),
			actor.WithDeadLetterThrottleInterval(time.Millisecond),
		)
		shrinkRegistry(s.as.ProcessRegistry)
	}
	s.name = "troupe" + strings.TrimPrefix(s.as.ProcessRegistry.NextId(), "$")
	s.rt = callrt.NewRuntime(mailbox.NewPool(o.Workers, 0, 0), mailbox.NewRegistry(s.as, s.name), s.log, runDone)
	s.link = callrt.MakeLink(s.rt)
	s.rt.SetStatsTables(s.newStatsTable) // combo channels' records: off with DisableMetrics, in OTel
	s.rt.SetTracer(o.Rpcz.Tracer(tracerOf(o.TracerProvider)))
	s.rpcz = o.Rpcz
	s.deadLetters = s.as.EventStream.Subscribe(s.onDeadLetter)
	return s, nil
}

// onDeadLetter fails an attempt that reached a socket actor after it stopped: a call that picked
// a retired socket from a server list just replaced, and lost the race with its stop.
func (s *System) onDeadLetter(evt any) {
	if dl, ok := evt.(*actor.DeadLetterEvent); ok {
		if at, ok := dl.Message.(*attempt); ok && at.sock != nil && at.sock.sys == s {
			at.sock.refuse(at)
		}
	}
}

// Name returns the System's name, the prefix of the ids of all its actors.
func (s *System) Name() string { return s.name }

// goroutine runs fn on a goroutine that Shutdown waits for.
func (s *System) goroutine(fn func()) { s.rt.Goroutine(fn) }

// errNoSystem is the error of using a System's zero value.
func errNoSystem() *wire.Error {
	return wire.Errorf(wire.EINVAL, "the System is not initialized: make it with NewSystem")
}

// usable reports whether s was made by NewSystem.
func (s *System) usable() bool { return s != nil && s.rt != nil }

// closed reports whether Shutdown began.
func (s *System) closed() bool { return s.rt.Closed() }

// props returns the Props of a long-lived troupe actor: the pooled dispatcher and a mailbox that
// reports when it drains (if asked). The producer returns the same instance, so that the restart
// protoactor's default supervision would make after a panic keeps the actor's state. (A custom
// guardian strategy is avoided on purpose: protoactor registers a guardian process per strategy
// and never removes it.)
func (s *System) props(a actor.Actor, notifyDrained bool) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return a },
		actor.WithDispatcher(s.rt.Pool()),
		actor.WithMailbox(mailbox.NewMailbox(notifyDrained)),
	)
}

// socketProps is props for a socket actor: a call's attempt that finds the socket idle runs
// the socket's turn on the call's goroutine, which then queues and writes its frame itself.
func (s *System) socketProps(a *socketActor) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return a },
		actor.WithDispatcher(s.rt.Pool()),
		actor.WithMailbox(mailbox.NewInlineMailbox(true, isAttempt, a.yieldFirst, &a.sk.door)),
	)
}

func isAttempt(msg any) bool {
	_, ok := msg.(*attempt)
	return ok
}

// Shutdown stops everything the System started: calls in flight fail with ELOGOFF (and
// [ErrClosed]) and their callbacks run, channels close, socket actors close their connections,
// timers stop, and Shutdown returns once every actor is out of the registry and every goroutine
// troupe started has returned, done callbacks included. It is idempotent; calls made after it
// fail at once with the same error.
func (s *System) Shutdown() {
	if !s.usable() {
		return
	}
	s.shutdown.Do(s.stopAll)
}

func (s *System) stopAll() {
	s.mu.Lock()
	s.rt.BeginShutdown()
	close(s.quit)
	s.mu.Unlock()
	s.rt.FailCalls()
	s.mu.Lock()
	chans := make([]*PlainChannel, 0, len(s.channels))
	for ch := range s.channels {
		chans = append(chans, ch)
	}
	s.mu.Unlock()
	for _, ch := range chans {
		ch.stop()
	}
	for _, sk := range s.allSockets() { // the channels' sockets are all retiring now
		sk.stop()
	}
	s.rt.Wait()
	s.as.EventStream.Unsubscribe(s.deadLetters)
	s.stopOtel()
	s.rt.Pool().Close()
	s.rt.Lights().Close()
	if s.ownAS {
		s.as.Shutdown()
	}
}

// registryBuckets is how many buckets troupe gives protoactor's process registry in an actor
// system of its own.
const registryBuckets = 16

// shrinkRegistry cuts protoactor's process registry from its 1 024 buckets, each a map in 32
// shards, to registryBuckets, moving what protoactor registered as it started. The 32 768 maps
// are about 3 MB of pointers that the garbage collector marks on every cycle: most of a client's
// live heap, and the largest part of its collection costs. Troupe registers only its channels
// and sockets there (calls live in package mailbox's registry), so a few buckets serve as well.
// It must run before anything else uses the registry.
func shrinkRegistry(reg *actor.ProcessRegistryValue) {
	old := reg.LocalPIDs.LocalPIDs
	if len(old) <= registryBuckets {
		return
	}
	moved := map[string]any{}
	for _, m := range old {
		if m.Count() == 0 {
			continue
		}
		for id, p := range m.Items() {
			moved[id] = p
			m.Remove(id)
		}
	}
	small := &actor.SliceMap{LocalPIDs: append(old[:0:0], old[:registryBuckets]...)}
	for id, p := range moved {
		small.GetBucket(id).Set(id, p)
	}
	reg.LocalPIDs = small
}

// eachProcess calls fn for every registry entry whose id belongs to this System.
func (s *System) eachProcess(fn func(id string, p actor.Process)) {
	prefix := s.name + "/"
	for _, shard := range s.as.ProcessRegistry.LocalPIDs.LocalPIDs {
		for id, v := range shard.Items() {
			if p, ok := v.(actor.Process); ok && strings.HasPrefix(id, prefix) {
				fn(id, p)
			}
		}
	}
}

// Processes returns how many actors of this System are registered: channel and socket actors in
// protoactor's registry, call actors in troupe's own. It is 0 after Shutdown; a test that expects
// no call in flight can check that only channels and sockets remain.
func (s *System) Processes() int {
	if !s.usable() {
		return 0
	}
	n := s.rt.Lights().Len()
	s.eachProcess(func(string, actor.Process) { n++ })
	return n
}

// socketFor returns the socket actor for an endpoint, starting it on first use. o are the
// channel's validated options; nil means the defaults (a single connection without
// authentication). Every channel of the System that talks to the
// endpoint with the same connection type and Authenticator shares the socket, as brpc's channels
// with the same option signature share connections.
func (s *System) socketFor(ep wire.Endpoint, o *ChannelOptions) (*socket, error) {
	var opts ChannelOptions
	if o != nil {
		opts = *o
	} else {
		opts, _ = (*ChannelOptions)(nil).validate() // the defaults
	}
	typ, err := parseConnType(opts.ConnectionType)
	if err != nil {
		return nil, err
	}
	key := sockKey{addr: ep.String(), typ: typ, auth: opts.Authenticator, tls: opts.TLS, dialer: opts.Dialer}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed() {
		return nil, callrt.ClosedError("")
	}
	if sk, ok := s.sockets[key]; ok {
		sk.refs++
		return sk, nil
	}
	sk, err := startSocket(s, key, &opts)
	if err != nil {
		return nil, err
	}
	sk.refs = 1
	s.sockets[key] = sk
	return sk, nil
}

// allSockets returns the sockets in use and those retiring.
func (s *System) allSockets() []*socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	socks := make([]*socket, 0, len(s.sockets)+len(s.retiring))
	for _, sk := range s.sockets {
		socks = append(socks, sk)
	}
	for sk := range s.retiring {
		socks = append(socks, sk)
	}
	return socks
}

// releaseSocket is how a channel lets go of a socket socketFor gave it. A socket no channel uses
// leaves the System's map, so that a new channel to that server gets a new one, and retires on a
// goroutine of the System: it stops once the calls in flight on it have their answers (as
// brpc's sockets live while a call holds them). During Shutdown, stopAll stops it instead.
func (s *System) releaseSocket(sk *socket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sk.refs--; sk.refs > 0 || sk.released {
		return
	}
	sk.released = true
	key := sockKey{addr: sk.addr, typ: sk.typ, auth: sk.auth}
	if s.sockets[key] == sk {
		delete(s.sockets, key)
	}
	s.retiring[sk] = struct{}{}
	if s.closed() {
		return
	}
	s.goroutine(func() {
		if sk.retire(s.quit) {
			s.mu.Lock()
			delete(s.retiring, sk)
			s.mu.Unlock()
		}
	})
}

// Rpcz returns the recorder of the System's recent calls, [SystemOptions.Rpcz]; nil when it has
// none.
func (s *System) Rpcz() *rpcz.Recorder {
	if s == nil {
		return nil
	}
	return s.rpcz
}
