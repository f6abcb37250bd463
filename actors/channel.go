package actors

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
)

// Channel is what every troupe channel is — plain channels and combo channels alike — so that
// combo channels nest and user code need not care which kind it holds.
type Channel interface {
	// Call makes a call and waits for it: brpc's synchronous call. cntl may be nil.
	Call(ctx context.Context, method string, req, resp proto.Message, cntl *Controller) error
	// Go starts a call and returns at once: brpc's asynchronous call. done, if not nil, runs
	// exactly once when the call finished, on a goroutine that is not the caller's.
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
)

// NoRetry, as ChannelOptions.MaxRetry, turns retries off (0 there means the default).
const NoRetry = -1

// ChannelOptions configures a channel, after brpc's ChannelOptions. The zero value of every field
// means brpc's default; nil options mean all defaults.
type ChannelOptions struct {
	// Timeout bounds each call when its context has no deadline and its Controller no timeout of
	// its own. 0 means DefaultTimeout (500 ms); a negative value means no deadline.
	Timeout time.Duration
	// ConnectTimeout bounds each connection attempt. 0 means DefaultConnectTimeout (200 ms).
	ConnectTimeout time.Duration
	// MaxRetry is how many times a call is retried after a failure brpc retries (a broken or
	// refused connection, a stopping or overloaded server), within its deadline. 0 means
	// DefaultMaxRetry (3); NoRetry means none. A timeout is never retried.
	MaxRetry int
	// Protocol must be "" or "baidu_std", the protocol troupe speaks.
	Protocol string
	// ConnectionType must be "" or "single": one connection per server, shared by every channel
	// of the System and multiplexing all their calls.
	ConnectionType string
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
	case v.MaxRetry > 1000:
		v.MaxRetry = 1000
	}
	if p := strings.ToLower(strings.TrimSpace(v.Protocol)); p != "" && p != "baidu_std" {
		return v, fmt.Errorf("troupe: ChannelOptions.Protocol = %q: unknown protocol (known: baidu_std)", v.Protocol)
	}
	if t := strings.ToLower(strings.TrimSpace(v.ConnectionType)); t != "" && t != "single" {
		return v, fmt.Errorf("troupe: ChannelOptions.ConnectionType = %q: unknown connection type (known: single)", v.ConnectionType)
	}
	return v, nil
}

// PlainChannel is brpc's Channel to one server: every call goes to the server's socket actor,
// which it shares with every other channel of the System that talks to the same server. It is
// safe for concurrent use.
type PlainChannel struct {
	sys    *System
	target string
	opts   ChannelOptions
	sock   *socket
	pid    *actor.PID
	born   time.Time
	closed atomic.Bool
	once   sync.Once

	inflight, succeeded, failed atomic.Int64
	lastErr                     atomic.Pointer[string]
}

// NewChannel makes a channel to one server, "host:port" (brpc's Channel::Init with a single
// server). It does not connect: the first call does. It returns an error for a malformed address
// or invalid options, and ErrClosed after Shutdown.
func (s *System) NewChannel(target string, opts *ChannelOptions) (*PlainChannel, error) {
	o, err := opts.validate()
	if err != nil {
		return nil, err
	}
	ep, err := wire.ParseEndpoint(target)
	if err != nil {
		return nil, fmt.Errorf("troupe: NewChannel: %w", err)
	}
	sock, err := s.socketFor(ep)
	if err != nil {
		return nil, err
	}
	ch := &PlainChannel{sys: s, target: ep.String(), opts: o, sock: sock, born: time.Now()}
	if err := s.addChannel(ch); err != nil {
		return nil, err
	}
	return ch, nil
}

// addChannel starts the channel's actor and records the channel for Inspect and Shutdown.
func (s *System) addChannel(ch *PlainChannel) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return closedError("")
	}
	name := fmt.Sprintf("%s/channels/ch-%d", s.name, s.nextID.Add(1))
	pid, err := s.as.Root.SpawnNamed(s.props(&channelActor{ch: ch}, false), name)
	if err != nil {
		return err
	}
	ch.pid = pid
	s.channels[ch] = struct{}{}
	return nil
}

// channelActor is the channel in the actor tree. A plain channel to one server keeps no state
// that calls must ask for, so it receives nothing on the call path.
type channelActor struct{ ch *PlainChannel }

func (a *channelActor) Receive(actor.Context) {}

// Target returns the server address the channel calls.
func (ch *PlainChannel) Target() string { return ch.target }

// Call makes a call and waits until it finished. See [Channel].
func (ch *PlainChannel) Call(ctx context.Context, method string, req, resp proto.Message, cntl *Controller) error {
	c := ch.start(ctx, method, req, resp, cntl, nil)
	<-c.finished
	return c.err
}

// Go starts a call and returns at once. See [Channel].
func (ch *PlainChannel) Go(ctx context.Context, method string, req, resp proto.Message, cntl *Controller, done func(*Controller)) *Call {
	return ch.start(ctx, method, req, resp, cntl, done)
}

// Close releases the channel: calls in flight finish normally, later calls fail with ELOGOFF
// ([ErrClosed]). The socket it used stays with the System for other channels. Close is
// idempotent.
func (ch *PlainChannel) Close() error {
	ch.closed.Store(true)
	ch.stop()
	return nil
}

func (ch *PlainChannel) stop() {
	ch.once.Do(func() {
		ch.closed.Store(true)
		_ = ch.sys.as.Root.StopFuture(ch.pid).Wait()
		ch.sys.mu.Lock()
		delete(ch.sys.channels, ch)
		ch.sys.mu.Unlock()
	})
}

func (ch *PlainChannel) record(err error) {
	ch.inflight.Add(-1)
	if err == nil {
		ch.succeeded.Add(1)
		return
	}
	ch.failed.Add(1)
	s := err.Error()
	ch.lastErr.Store(&s)
}
