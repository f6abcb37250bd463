package callrt

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/troupe-rpc/troupe/internal/stats"
	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// ErrClosed is the cause of every call failed or refused because its System shut down or its
// channel was closed; actors exports it as actors.ErrClosed.
var ErrClosed = errors.New("troupe: closed")

// ClosedError is the error of a call refused or failed by shutdown: ELOGOFF, caused by ErrClosed.
func ClosedError(method string) *wire.Error {
	return &wire.Error{Code: wire.ELOGOFF, Text: "troupe system is shut down", Method: method, Err: ErrClosed}
}

// Runtime is what every call of one System shares: the dispatcher its actors run on, the
// registry they live in, the count of calls in flight, the goroutines Shutdown waits for, and what
// Inspect shows beside the System's own channels. The System owns it; channels built outside
// package actors reach it with [Of].
type Runtime struct {
	pool     *mailbox.Pool
	lights   *mailbox.Registry
	log      *slog.Logger
	callDone func(done any, c *Controller)
	tracer   trace.Tracer // nil: calls are not traced

	closed   atomic.Bool
	inflight atomic.Int64
	idle     chan struct{} // signalled when inflight drops to 0 after closed

	deadlines deadlines

	goroutines sync.WaitGroup
	running    atomic.Int64 // goroutines started with Go or Goroutine that have not returned

	mu       sync.Mutex
	watchers map[*context.CancelFunc]struct{}
	shown    map[*any]struct{}
	statsSeq atomic.Int64 // numbers the ChannelStats of combo channels
	newTable func(name string) *stats.Table
}

// NewRuntime returns the Runtime of a System. callDone runs an asynchronous call's done callback,
// which a [Spec] carries as an opaque value, with the call's Controller.
func NewRuntime(pool *mailbox.Pool, lights *mailbox.Registry, log *slog.Logger, callDone func(done any, c *Controller)) *Runtime {
	rt := &Runtime{pool: pool, lights: lights, log: log, callDone: callDone, idle: make(chan struct{}, 1),
		watchers: map[*context.CancelFunc]struct{}{}, shown: map[*any]struct{}{}}
	rt.deadlines.init(rt.Goroutine)
	return rt
}

// Link is embedded, under an unexported name, in the System, so that [Of] finds the Runtime of a
// System without the System exporting it.
type Link struct{ rt *Runtime }

// MakeLink returns the Link to rt.
func MakeLink(rt *Runtime) Link { return Link{rt} }

func (l *Link) runtime() *Runtime { return l.rt }

type linked interface{ runtime() *Runtime }

// Of returns the Runtime of sys, a *actors.System, or nil when sys is not one (or is a nil
// pointer, or a System's zero value).
func Of(sys any) (rt *Runtime) {
	l, ok := sys.(linked)
	if !ok {
		return nil
	}
	defer func() {
		if recover() != nil { // a nil *System: the promoted method dereferences it
			rt = nil
		}
	}()
	return l.runtime()
}

// Logger returns the System's logger.
func (rt *Runtime) Logger() *slog.Logger { return rt.log }

// Lights returns the registry call actors live in.
func (rt *Runtime) Lights() *mailbox.Registry { return rt.lights }

// Pool returns the dispatcher every actor of the System runs on.
func (rt *Runtime) Pool() *mailbox.Pool { return rt.pool }

// Closed reports whether Shutdown began.
func (rt *Runtime) Closed() bool { return rt.closed.Load() }

// InFlight returns the number of calls that entered and have not finished.
func (rt *Runtime) InFlight() int64 { return rt.inflight.Load() }

// Goroutines returns the number of goroutines the System owns that have not returned: its
// sockets' readers, dialers and writers, the one that waits for its calls' deadlines (from the
// first deadline on, on Linux), and the work started with [Runtime.Go].
func (rt *Runtime) Goroutines() int64 { return rt.running.Load() }

// enter counts a call in; it fails once the System is closed.
func (rt *Runtime) enter() bool {
	rt.inflight.Add(1)
	if rt.closed.Load() {
		rt.leave()
		return false
	}
	return true
}

func (rt *Runtime) leave() {
	if rt.inflight.Add(-1) == 0 && rt.closed.Load() {
		select {
		case rt.idle <- struct{}{}:
		default:
		}
	}
}

// Goroutine runs fn on a goroutine that Shutdown waits for and Inspect counts.
func (rt *Runtime) Goroutine(fn func()) {
	rt.running.Add(1)
	rt.goroutines.Go(func() {
		defer rt.running.Add(-1)
		fn()
	})
}

// Go runs fn on a goroutine the System owns: Inspect counts it and Shutdown, after failing the
// calls in flight, waits for it to return. Channels use it for work that must not run in an
// actor, such as a partition function that may call out; fn must return soon after the work it
// serves is cancelled. Go returns ErrClosed, without running fn, once Shutdown began.
func (rt *Runtime) Go(fn func()) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed.Load() {
		return ErrClosed
	}
	rt.Goroutine(fn)
	return nil
}

// Show lists x (an actors.Inspectable) among the channels Inspect shows until remove is called
// or the System shuts down. remove is idempotent.
func (rt *Runtime) Show(x any) (remove func()) {
	key := &x
	rt.mu.Lock()
	rt.shown[key] = struct{}{}
	rt.mu.Unlock()
	return func() {
		rt.mu.Lock()
		delete(rt.shown, key)
		rt.mu.Unlock()
	}
}

// Shown returns what Show listed.
func (rt *Runtime) Shown() []any {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := make([]any, 0, len(rt.shown))
	for x := range rt.shown {
		out = append(out, *x)
	}
	return out
}

// WatchNaming runs svc's Watch on a goroutine Shutdown waits for, calling update with each new
// server list on that goroutine, until stop is called or the System shuts down. stop waits for
// the goroutine and is idempotent; update must not block for long.
func (rt *Runtime) WatchNaming(svc naming.Service, update func([]naming.ServerNode)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	rt.mu.Lock()
	if rt.closed.Load() {
		rt.mu.Unlock()
		cancel()
		return func() {}
	}
	rt.watchers[&cancel] = struct{}{}
	rt.goroutines.Go(func() {
		defer close(done)
		if err := svc.Watch(ctx, update); err != nil && ctx.Err() == nil {
			rt.log.Error("troupe: naming service stopped", "err", err)
		}
	})
	rt.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
			rt.mu.Lock()
			delete(rt.watchers, &cancel)
			rt.mu.Unlock()
		})
	}
}

// BeginShutdown refuses new calls and goroutines, stops the naming watches and forgets what Show
// listed.
func (rt *Runtime) BeginShutdown() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.closed.Store(true)
	for cancel := range rt.watchers {
		(*cancel)()
	}
	clear(rt.shown)
}

// FailCalls sends every live call the shutdown message until none is left. Calls that were
// registering while the flag flipped are caught by the next sweep.
func (rt *Runtime) FailCalls() {
	for rt.inflight.Load() > 0 {
		rt.lights.Each(func(l *mailbox.Light) {
			if _, ok := l.Handler().(*Call); ok {
				l.Send(msgShutdown)
			}
		})
		select {
		case <-rt.idle:
		case <-time.After(10 * time.Millisecond):
		}
	}
	rt.deadlines.stop()
}

// Wait waits for every goroutine the Runtime started, done callbacks included.
func (rt *Runtime) Wait() { rt.goroutines.Wait() }
