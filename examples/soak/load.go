package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// client is one channel the callers use, with its name in the report.
type client struct {
	name string
	ch   actors.Channel
	// calls and successes finished on this channel.
	calls, successes atomic.Int64
}

// openClients makes the channels of a phase over the naming file: a cluster channel, a parallel
// channel of two cluster channels, a selective channel of a cluster channel and a channel to
// server 0 alone, a partition channel (2 partitions) and a dynamic partition channel (schemes of
// 2 and 3 partitions).
func openClients(sys *actors.System, namingPath, server0 string) (clients []*client, err error) {
	target := "file://" + namingPath
	defer func() {
		if err != nil {
			closeClients(clients)
		}
	}()
	add := func(name string, ch actors.Channel, e error) error {
		if e != nil {
			return fmt.Errorf("%s channel: %w", name, e)
		}
		clients = append(clients, &client{name: name, ch: ch})
		return nil
	}
	cluster, err := sys.NewChannel(target, &actors.ChannelOptions{LoadBalancer: "rr", MaxRetry: 2})
	if err := add("cluster", cluster, err); err != nil {
		return clients, err
	}
	par, err := newParallel(sys, target)
	if err := add("parallel", par, err); err != nil {
		return clients, err
	}
	sel, err := newSelective(sys, target, server0)
	if err := add("selective", sel, err); err != nil {
		return clients, err
	}
	part, err := combo.NewPartitionChannel(sys, 2, combo.SlashParser{}, target, nil)
	if err := add("partition", part, err); err != nil {
		return clients, err
	}
	dyn, err := combo.NewDynamicPartitionChannel(sys, combo.SlashParser{}, target, nil)
	return clients, add("dynpart", dyn, err)
}

func newParallel(sys *actors.System, target string) (actors.Channel, error) {
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{FailLimit: 1})
	if err != nil {
		return nil, err
	}
	for _, balancer := range []string{"random", "la"} {
		sub, err := sys.NewChannel(target, &actors.ChannelOptions{LoadBalancer: balancer, MaxRetry: 1})
		if err == nil {
			err = p.AddChannel(sub, combo.OwnsChannel, nil, nil)
		}
		if err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

func newSelective(sys *actors.System, target, server0 string) (actors.Channel, error) {
	s, err := combo.NewSelectiveChannel(sys, &combo.SelectiveOptions{LoadBalancer: "rr", MaxRetry: 2})
	if err != nil {
		return nil, err
	}
	subs := []struct{ target, balancer string }{{target, "c_murmurhash"}, {server0, ""}}
	for _, sub := range subs {
		ch, err := sys.NewChannel(sub.target, &actors.ChannelOptions{LoadBalancer: sub.balancer, MaxRetry: actors.NoRetry})
		if err == nil {
			_, err = s.AddChannel(ch, combo.OwnsChannel)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func closeClients(clients []*client) {
	for _, c := range clients {
		_ = c.ch.Close()
	}
}

// tally counts the calls: issued, finished (their done callback ran), finished twice, and
// the outcome of each.
type tally struct {
	issued, finished, successes, twice atomic.Int64

	mu       sync.Mutex
	errors   map[wire.Errno]int64
	examples map[wire.Errno]string // the first error of each code, with its channel
}

// record is one call's count of done callbacks.
type record struct{ done atomic.Int32 }

// finish is a call's done callback: it counts the first run and the outcome, and any later run
// as a call finished twice.
func (t *tally) finish(r *record, c *client, cntl *actors.Controller) {
	if r.done.Add(1) != 1 {
		t.twice.Add(1)
		return
	}
	c.calls.Add(1)
	if err := cntl.Err(); err == nil {
		t.successes.Add(1)
		c.successes.Add(1)
	} else {
		t.mu.Lock()
		code := wire.ErrnoOf(err)
		if t.errors[code]++; t.errors[code] == 1 {
			t.examples[code] = c.name + ": " + err.Error()
		}
		t.mu.Unlock()
	}
	t.finished.Add(1) // last, so that a reader who sees every call finished sees its outcome
}

// errorLine is "ERPCTIMEDOUT=12 ECANCELED=3 …", most frequent first, or "none".
func (t *tally) errorLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	codes := slices.SortedFunc(maps.Keys(t.errors), func(a, b wire.Errno) int {
		if t.errors[a] != t.errors[b] {
			return int(t.errors[b] - t.errors[a])
		}
		return int(a - b)
	})
	if len(codes) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, c := range codes {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", c.Name(), t.errors[c])
	}
	return b.String()
}

// exampleLines is one "error example: <code name> <channel>: <error>" line per code.
func (t *tally) exampleLines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, code := range slices.Sorted(maps.Keys(t.examples)) {
		out = append(out, fmt.Sprintf("error example: %s %s", code.Name(), t.examples[code]))
	}
	return out
}

// maxPayload bounds messages and attachments; big ones are rare.
const maxPayload = 256 << 10

var filler = strings.Repeat("x", maxPayload) // read only

// caller issues asynchronous calls on random clients until ctx ends, keeping up to window of
// them in flight; it does not wait for the last ones (the phase waits for every call).
func (t *tally) caller(ctx context.Context, rng *rand.Rand, clients []*client, window int) {
	var inflight []*actors.Call
	att := make([]byte, maxPayload)
	for ctx.Err() == nil {
		if len(inflight) == window {
			select {
			case <-inflight[0].Done():
			case <-ctx.Done():
				return
			}
			inflight = inflight[1:]
		}
		inflight = append(inflight, t.issue(rng, clients[rng.IntN(len(clients))], att))
	}
}

// issue starts one call with a random message and attachment size, a random timeout (none for
// 2% of the calls), a slow handler for 2% and a cancel for 5%, now or after up to 50 ms.
func (t *tally) issue(rng *rand.Rand, c *client, att []byte) *actors.Call {
	req := &echopb.EchoRequest{Message: proto.String(filler[:size(rng)])}
	if rng.IntN(50) == 0 {
		req.SleepUs = proto.Int32(int32(50_000 + rng.IntN(250_000)))
	}
	cntl := &actors.Controller{}
	if n := size(rng); n > 0 {
		cntl.SetRequestAttachment(att[:n])
	}
	if rng.IntN(50) == 0 {
		cntl.SetTimeout(actors.NoTimeout)
	} else {
		cntl.SetTimeout(between(rng, 5*time.Millisecond, time.Second))
	}
	cntl.SetRequestCode(uint64(rng.Uint32())) // for the selective channel's c_murmurhash sub-channel
	r := &record{}
	t.issued.Add(1)
	call := echopbtroupe.NewEchoServiceClient(c.ch).GoEcho(context.Background(), req, &echopb.EchoResponse{}, cntl,
		func(cntl *actors.Controller) { t.finish(r, c, cntl) })
	switch rng.IntN(100) {
	case 0:
		call.Cancel()
	case 1, 2, 3, 4:
		time.AfterFunc(time.Duration(rng.IntN(50_000))*time.Microsecond, call.Cancel)
	}
	return call
}

// size is a random payload size: none for a third, up to 1 kB for half, up to 64 kB for most of
// the rest and up to 256 kB for 1 in 100.
func size(rng *rand.Rand) int {
	switch p := rng.IntN(100); {
	case p < 33:
		return 0
	case p < 83:
		return rng.IntN(1 << 10)
	case p < 99:
		return rng.IntN(64 << 10)
	default:
		return rng.IntN(maxPayload)
	}
}
