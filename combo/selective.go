package combo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/naming"
)

// SelectiveOptions configures a [SelectiveChannel], after the ChannelOptions brpc's
// SelectiveChannel takes. The zero value of a field means brpc's default.
type SelectiveOptions struct {
	// LoadBalancer picks a sub-channel for each attempt, by brpc's names ("rr", "random", "wrr",
	// "la", "c_murmurhash", …). Empty, and no Balancer, means "rr".
	LoadBalancer string
	// Balancer is a program's own load balancer picking the sub-channels, in place of
	// LoadBalancer (setting both is an error). Its servers are the sub-channels, each named
	// "sub-channel-<handle>" with the sub-channel's capacity as its weight; each attempt's end
	// is reported to its Feedback, so "la" learns the sub-channels' latencies. Give each
	// selective channel a value of its own; it is guarded with [lb.Guard].
	Balancer lb.Balancer
	// Timeout bounds the whole call, retries included; sub-channels' own timeouts do not apply.
	// 0 means 500 ms; actors.NoTimeout (any negative value), none.
	Timeout time.Duration
	// MaxRetry is how many more sub-channels a call may try after a failure the retry policy
	// accepts (each sub-channel also retries inside itself). 0 means 3; actors.NoRetry (any
	// negative value), none.
	MaxRetry int
	// BackupRequest, when positive, sends the call to a second sub-channel when the first has
	// not answered after this long; the first good answer wins. It uses a retry. Setting it and
	// BackupPolicy is an error.
	BackupRequest time.Duration
	// BackupPolicy decides each call's backup-request delay and whether the backup request goes
	// to a second sub-channel, in place of a fixed BackupRequest (brpc's backup_request_policy);
	// nil means none. It is told of each call of the selective channel as it ends. A call's
	// Controller.SetBackupRequest still wins for its call. Give each channel a value of its own.
	BackupPolicy actors.BackupPolicy
	// RetryPolicy decides which failures move the call to another sub-channel; nil means
	// actors.DefaultRetryPolicy. A policy that implements actors.BackoffPolicy waits its backoff
	// before each retry.
	RetryPolicy actors.RetryPolicy
	// Interceptors run around every call of the channel, the first outermost (see
	// actors.Interceptor): around the whole selective call, Call and Go alike, and around the
	// sub-calls another combo channel makes on it. The sub-calls this channel makes happen
	// inside the last one's next, each through its sub-channel's own interceptors. None by
	// default; a nil element is an error.
	Interceptors []actors.Interceptor
}

// ChannelHandle names a sub-channel of a SelectiveChannel, for RemoveAndDestroyChannel.
type ChannelHandle int64

// selSub is one sub-channel of a selective channel.
type selSub struct {
	handle ChannelHandle
	ch     actors.Channel
	start  callrt.StartChildFunc
	owned  bool
	node   naming.ServerNode
}

// selSnapshot is what a selective call picks from; it never changes once published.
type selSnapshot struct {
	subs    []*selSub
	servers []lb.Server
	picker  lb.Picker
}

// SelectiveChannel is brpc's SelectiveChannel: a channel whose "servers" are sub-channels. Each
// attempt of a call goes to one sub-channel chosen by a load balancer; a failed attempt is
// retried on another sub-channel, and a backup request can go to a second one. Sub-channels may be
// added and removed at any time; calls in flight keep the ones they picked. A sub-channel that
// answers ENODATA or EHOSTDOWN (it has no usable server) is skipped for a second. It satisfies
// [actors.Channel] and is safe for concurrent use. Make it with [NewSelectiveChannel]: a zero
// SelectiveChannel fails every call with EINVAL.
type SelectiveChannel struct {
	nest

	rt     *callrt.Runtime
	opts   SelectiveOptions
	icpt   *interception // the Interceptors; nil for none
	policy callrt.Policy
	onEnd  func(*callrt.Controller, error) // tells BackupPolicy a call ended; nil without one
	bal    lb.Balancer
	mu     sync.Mutex
	subs   []*selSub
	down   map[ChannelHandle]time.Time
	revive *time.Timer // ends the earliest time out in down; nil when down is empty or closed
	next   ChannelHandle
	snap   atomic.Pointer[selSnapshot]
	closed atomic.Bool
	own    owner
	// build, when set, replaces the balancer's pickers (a dynamic partition channel picks
	// schemes by capacity).
	build func([]lb.Server) lb.Picker
}

// subDownFor is how long a sub-channel without a usable server is skipped.
const subDownFor = time.Second

// NewSelectiveChannel returns an empty selective channel of sys. It returns an error for an
// unknown load balancer, both a LoadBalancer and a Balancer, or invalid options.
func NewSelectiveChannel(sys *actors.System, opts *SelectiveOptions) (*SelectiveChannel, error) {
	rt, err := runtimeOf(sys, "NewSelectiveChannel")
	if err != nil {
		return nil, err
	}
	var o SelectiveOptions
	if opts != nil {
		o = *opts
	}
	bal, err := o.balancer()
	if err != nil {
		return nil, err
	}
	switch {
	case o.MaxRetry == 0:
		o.MaxRetry = actors.DefaultMaxRetry
	case o.MaxRetry < 0:
		o.MaxRetry = 0
	}
	o.Timeout = timeoutOrDefault(o.Timeout)
	if o.BackupRequest != 0 && o.BackupPolicy != nil {
		return nil, fmt.Errorf("combo: SelectiveOptions.BackupRequest = %v and SelectiveOptions.BackupPolicy = %T are both set, want one of them",
			o.BackupRequest, o.BackupPolicy)
	}
	o.BackupRequest = max(o.BackupRequest, 0)
	ic, err := newInterception("SelectiveOptions", o.Interceptors, o.Timeout, "selective channel")
	if err != nil {
		return nil, err
	}
	s := &SelectiveChannel{rt: rt, opts: o, policy: runtimePolicy(o.RetryPolicy), bal: bal, down: map[ChannelHandle]time.Time{}}
	if p := o.BackupPolicy; p != nil {
		backupRuntime(&s.policy, p)
		s.onEnd = func(c *callrt.Controller, _ error) { backupEnded(rt, p, c) }
	}
	s.publishLocked()
	s.own.init(rt, &s.closed, s.closeOwned, "selective")
	s.icpt = ic
	s.nest = nestOf(s.spec, s.icpt)
	return s, nil
}

// balancer returns the user's Balancer, guarded, or the one LoadBalancer names ("rr" when
// empty), and sets LoadBalancer to the name in use.
func (o *SelectiveOptions) balancer() (lb.Balancer, error) {
	if o.Balancer != nil {
		if o.LoadBalancer != "" {
			return nil, fmt.Errorf("combo: SelectiveOptions.LoadBalancer = %q and SelectiveOptions.Balancer = %T are both set, want one of them",
				o.LoadBalancer, o.Balancer)
		}
		return lb.Guard(o.Balancer), nil
	}
	if o.LoadBalancer == "" {
		o.LoadBalancer = "rr"
	}
	bal, err := lb.New(o.LoadBalancer)
	if err != nil {
		return nil, fmt.Errorf("combo: SelectiveOptions.LoadBalancer: %w", err)
	}
	return bal, nil
}

// AddChannel adds a sub-channel and returns its handle. It may be called at any time; the next
// calls can pick it. Adding the same channel twice is an error.
func (s *SelectiveChannel) AddChannel(ch actors.Channel, own Ownership) (ChannelHandle, error) {
	if s.rt == nil {
		return 0, errNotInitialized("SelectiveChannel")
	}
	if isNil(ch) {
		return 0, errors.New("combo: AddChannel(nil)")
	}
	if s.closed.Load() {
		return 0, actors.ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		if sub.ch == ch {
			return 0, errors.New("combo: AddChannel: duplicated sub-channel")
		}
	}
	s.next++
	sub := &selSub{handle: s.next, ch: ch, start: childStarter(ch), owned: own == OwnsChannel,
		node: naming.ServerNode{Addr: fmt.Sprintf("sub-channel-%d", s.next), Weight: weightOf(ch)}}
	s.subs = append(s.subs, sub)
	s.publishLocked()
	return sub.handle, nil
}

// RemoveAndDestroyChannel removes a sub-channel: later calls no longer pick it, calls in flight
// on it finish normally, and it is closed if the selective channel owned it.
func (s *SelectiveChannel) RemoveAndDestroyChannel(h ChannelHandle) error {
	if s.rt == nil {
		return errNotInitialized("SelectiveChannel")
	}
	s.mu.Lock()
	var removed *selSub
	for i, sub := range s.subs {
		if sub.handle == h {
			removed = sub
			s.subs = append(s.subs[:i:i], s.subs[i+1:]...)
			break
		}
	}
	delete(s.down, h)
	s.publishLocked()
	s.mu.Unlock()
	if removed == nil {
		return fmt.Errorf("combo: RemoveAndDestroyChannel: no sub-channel with handle %d", h)
	}
	if removed.owned {
		return removed.ch.Close()
	}
	return nil
}

// ChannelCount returns the number of sub-channels.
func (s *SelectiveChannel) ChannelCount() int { return len(s.subList()) }

// subList returns the sub-channels (none for a zero SelectiveChannel).
func (s *SelectiveChannel) subList() []*selSub {
	if snap := s.snap.Load(); snap != nil {
		return snap.subs
	}
	return nil
}

// Weight returns the channel's capacity: the sum of its sub-channels'.
func (s *SelectiveChannel) Weight() int {
	w := 0
	for _, sub := range s.subList() {
		w += weightOf(sub.ch)
	}
	return w
}

// publishLocked builds the snapshot calls pick from; s.mu is held.
func (s *SelectiveChannel) publishLocked() {
	now := time.Now()
	snap := &selSnapshot{subs: append([]*selSub(nil), s.subs...)}
	snap.servers = make([]lb.Server, len(s.subs))
	for i, sub := range s.subs {
		until, down := s.down[sub.handle]
		snap.servers[i] = lb.Server{ServerNode: sub.node, Down: down && now.Before(until)}
	}
	if s.build != nil {
		snap.picker = s.build(snap.servers)
	} else {
		snap.picker = s.bal.Build(snap.servers)
	}
	s.snap.Store(snap)
}

// setWeight changes a sub-channel's weight, as the picker sees it.
func (s *SelectiveChannel) setWeight(h ChannelHandle, w int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sub := range s.subs {
		if sub.handle == h {
			sub.node.Weight = w
		}
	}
	s.publishLocked()
}

// markDown skips a sub-channel without a usable server for a while.
func (s *SelectiveChannel) markDown(h ChannelHandle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down[h] = time.Now().Add(subDownFor)
	s.publishLocked()
	if s.revive == nil && !s.closed.Load() {
		s.revive = time.AfterFunc(subDownFor, s.reviveDown)
	}
}

// reviveDown publishes a snapshot without the sub-channels whose time out is over, and waits for
// the next one to end. Close stops it.
func (s *SelectiveChannel) reviveDown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revive = nil
	now := time.Now()
	var next time.Time
	for h, until := range s.down {
		switch {
		case !now.Before(until):
			delete(s.down, h)
		case next.IsZero() || until.Before(next):
			next = until
		}
	}
	s.publishLocked()
	if !next.IsZero() && !s.closed.Load() {
		s.revive = time.AfterFunc(time.Until(next), s.reviveDown)
	}
}

// Call makes a call and waits for it. See [actors.Channel].
func (s *SelectiveChannel) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return s.Go(ctx, method, req, resp, cntl, nil).Wait()
}

// Go starts a call. See [actors.Channel].
func (s *SelectiveChannel) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	return goCall(s.rt, "SelectiveChannel", "NewSelectiveChannel", s.spec, s.icpt, ctx, method, req, resp, cntl, done)
}

func (s *SelectiveChannel) spec(method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Spec {
	return s.own.track(&callrt.Spec{Method: method, Request: req, Response: resp, Controller: cntl,
		Engine: &selectiveCall{ch: s}, Timeout: s.opts.Timeout, Target: "selective channel", OnEnd: s.onEnd})
}

// Close makes later calls fail at once with ErrClosed; calls in flight complete normally, and
// the owned sub-channels are closed when the last of them ended — before Close returns, with
// their errors, when none is in flight. Close is idempotent.
func (s *SelectiveChannel) Close() error {
	err := s.own.close()
	s.mu.Lock()
	if s.revive != nil {
		s.revive.Stop()
		s.revive = nil
	}
	s.mu.Unlock()
	return err
}

// closeOwned closes the owned sub-channels, in the order they were added.
func (s *SelectiveChannel) closeOwned() error {
	s.mu.Lock()
	subs := append([]*selSub(nil), s.subs...)
	s.mu.Unlock()
	var errs []error
	sort.Slice(subs, func(i, j int) bool { return subs[i].handle < subs[j].handle })
	for _, sub := range subs {
		if sub.owned {
			errs = append(errs, sub.ch.Close())
		}
	}
	return errors.Join(errs...)
}
