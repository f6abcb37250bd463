package lb

import (
	"math/rand/v2"
	"sync/atomic"
)

// roundRobin is brpc's "rr". Its counter is shared by all its Pickers so that a new snapshot
// continues the cycle instead of restarting it.
type roundRobin struct {
	next atomic.Uint64
	rec  *recovery // nil without min_working_instances/hold_seconds
}

func newRoundRobin(rec *recovery) *roundRobin {
	b := &roundRobin{rec: rec}
	b.next.Store(rand.Uint64())
	return b
}

func (b *roundRobin) Name() string      { return "rr" }
func (b *roundRobin) Feedback(Feedback) {}

func (b *roundRobin) Build(servers []Server) Picker {
	return &rrPicker{b: b, servers: servers, usable: countUp(servers), nextUp: nextUpTable(servers)}
}

type rrPicker struct {
	b       *roundRobin
	servers []Server
	usable  int
	nextUp  []int32 // for each index, the first usable index at or after it, cyclically
}

// Pick takes the next counter value as start and returns the first usable server from there.
// With exclusions it probes the n entries in order, taking the n-th even if excluded. The
// counter moves past the entries skipped, so the traffic of a Down server spreads evenly.
func (p *rrPicker) Pick(r *Request) (int, error) {
	n := uint64(len(p.servers))
	if n == 0 {
		return -1, errNoData()
	}
	if p.b.rec.reject(p.usable) {
		return -1, errReject()
	}
	if p.usable == 0 {
		p.b.rec.start()
		return -1, errHostDown()
	}
	start := p.b.next.Add(1) % n
	if r == nil || len(r.Excluded) == 0 {
		j := uint64(p.nextUp[start])
		p.skip((j + n - start) % n)
		return int(j), nil
	}
	for i := uint64(0); i < n; i++ {
		j := (start + i) % n
		if !p.servers[j].Down && (i+1 == n || !excluded(r, p.servers[j].Addr)) {
			p.skip(i)
			return int(j), nil
		}
	}
	p.b.rec.start()
	return -1, errHostDown()
}

// skip moves the shared counter past k entries that a pick passed over.
func (p *rrPicker) skip(k uint64) {
	if k > 0 {
		p.b.next.Add(k)
	}
}

// randomized is brpc's "random".
type randomized struct {
	rec *recovery
}

func (b *randomized) Name() string      { return "random" }
func (b *randomized) Feedback(Feedback) {}

func (b *randomized) Build(servers []Server) Picker {
	return &randomPicker{b: b, servers: servers, up: upIndices(servers)}
}

type randomPicker struct {
	b       *randomized
	servers []Server
	up      []int32 // the usable indices
}

// Pick returns a uniformly random usable server. With exclusions it starts at a random entry
// and jumps by a random stride coprime with n until a usable, not excluded one; the n-th probe
// is taken even if excluded.
func (p *randomPicker) Pick(r *Request) (int, error) {
	n := len(p.servers)
	if n == 0 {
		return -1, errNoData()
	}
	if p.b.rec.reject(len(p.up)) {
		return -1, errReject()
	}
	if len(p.up) == 0 {
		p.b.rec.start()
		return -1, errHostDown()
	}
	if r == nil || len(r.Excluded) == 0 {
		return int(p.up[rand.IntN(len(p.up))]), nil
	}
	k, stride := rand.IntN(n), 0
	for i := range n {
		if !p.servers[k].Down && (i+1 == n || !excluded(r, p.servers[k].Addr)) {
			return k, nil
		}
		if stride == 0 {
			stride = coprimeStride(n)
		}
		k = (k + stride) % n
	}
	p.b.rec.start()
	return -1, errHostDown()
}
