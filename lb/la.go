package lb

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

const laMaxLoops = 10000 // brpc's guard against a selection that never ends

// localityAware is brpc's "la": weights learned per address from Feedback, picked by weighted
// random. See the package documentation for the formula.
type localityAware struct {
	now   clock
	epoch time.Time
	nodes map[string]*laNode // by address; touched by Build only
	cur   atomic.Pointer[laSnapshot]
}

func newLocalityAware() *localityAware {
	return &localityAware{now: time.Now, epoch: time.Now(), nodes: map[string]*laNode{}}
}

func (b *localityAware) Name() string { return "la" }

// micros returns t in microseconds since the balancer's epoch.
func (b *localityAware) micros(t time.Time) int64 { return t.Sub(b.epoch).Microseconds() }

// laSnapshot is one server list with the tree of its weights. Each address is one entry (the
// first of its list entries); Down entries and repeated addresses weigh 0.
type laSnapshot struct {
	servers []Server
	nodes   []*laNode      // by list index; nil for a repeated address
	index   map[string]int // address → list index
	tree    *weightTree
	members int // entries that can weigh more than 0
}

// floor is the least weight of a usable server: laMinWeight, or 1/laMinShare of the mean.
func (s *laSnapshot) floor(total int64) int64 {
	if s.members == 0 {
		return laMinWeight
	}
	return max(laMinWeight, total/int64(s.members)/laMinShare)
}

func (b *localityAware) Build(servers []Server) Picker {
	s := &laSnapshot{
		servers: servers,
		nodes:   make([]*laNode, len(servers)),
		index:   make(map[string]int, len(servers)),
	}
	mean, nodes := b.meanBase(), make(map[string]*laNode, len(servers))
	weights := make([]int64, len(servers))
	now := b.micros(b.now())
	var total int64
	for i := range servers {
		addr := servers[i].Addr
		if _, dup := s.index[addr]; dup {
			continue
		}
		node := b.nodes[addr]
		if node == nil {
			node = newLANode(mean)
		}
		nodes[addr], s.index[addr], s.nodes[i] = node, i, node
		if servers[i].Down {
			node.lowerTo(mean)
			continue
		}
		s.members++
		weights[i] = node.weight(now, 0)
		total += weights[i]
	}
	for i := range weights {
		if weights[i] > 0 {
			weights[i] = max(weights[i], s.floor(total))
		}
	}
	s.tree = newWeightTree(weights)
	b.nodes = nodes
	b.cur.Store(s)
	return &laPicker{b: b, s: s}
}

// meanBase is the mean base weight of the known addresses, or laScale when there is none.
func (b *localityAware) meanBase() int64 {
	if len(b.nodes) == 0 {
		return laScale
	}
	var sum int64
	for _, n := range b.nodes {
		sum += n.base.Load() / int64(len(b.nodes))
	}
	return max(sum, laMinWeight)
}

// Feedback updates the window of f.Server's address and its weight in the current snapshot.
// f.Begin must be the Begin given to Pick; the attempt is taken to end at Begin+Latency (now
// when Begin is zero).
func (b *localityAware) Feedback(f Feedback) {
	s := b.cur.Load()
	if s == nil {
		return
	}
	i, ok := s.index[f.Server.Addr]
	if !ok {
		return
	}
	node := s.nodes[i]
	begin, end := f.Begin, f.Begin.Add(f.Latency)
	if begin.IsZero() {
		end = b.now()
		begin = end.Add(-f.Latency)
	}
	node.done(b.micros(begin))
	node.record(&f, b.micros(end))
	if !s.servers[i].Down {
		s.tree.set(i, node.weight(b.micros(b.now()), s.floor(s.tree.total.Load())))
	}
}

type laPicker struct {
	b *localityAware
	s *laSnapshot
}

// Pick draws a weighted random entry. An excluded entry costs a try; a drawn entry whose
// weight, updated for its in-flight attempts, no longer covers the draw is drawn again (brpc's
// AddInflight). The last try takes what it draws, except that it draws again among the entries
// not excluded, when there are some, rather than reuse an excluded one (brpc would take it).
func (p *laPicker) Pick(r *Request) (int, error) {
	s := p.s
	if len(s.servers) == 0 {
		return -1, errNoData()
	}
	now := p.b.micros(p.b.now())
	begin := now
	if r != nil && !r.Begin.IsZero() {
		begin = p.b.micros(r.Begin)
	}
	for loop, ntry := 0, 0; loop < laMaxLoops && ntry < s.members; loop++ {
		total := s.tree.sum()
		if loop == 0 && total > 0 {
			s.raiseToFloor(rand.IntN(len(s.servers)), now, s.floor(total))
		}
		var i int
		var offset int64
		ok := false
		if total > 0 {
			i, offset, ok = s.tree.find(rand.Int64N(total))
		}
		if !ok {
			// The sums are out of step with the weights while a change is under way (one that
			// waits to add to them can leave them below zero for as long as its goroutine is
			// descheduled): draw from the weights themselves.
			if i, offset, ok = s.drawLinear(r, false); !ok {
				continue // the weights shrank under the scan
			}
		}
		last := ntry+1 >= s.members
		if excluded(r, s.servers[i].Addr) {
			if !last {
				ntry++
				continue
			}
			if j, off, ok := s.drawLinear(r, true); ok {
				i, offset = j, off
			}
		}
		w := s.nodes[i].weight(now, s.floor(total))
		s.tree.set(i, w)
		if last || offset < w {
			s.nodes[i].start(begin)
			return i, nil
		}
		ntry++
	}
	return -1, errHostDown()
}

// drawLinear draws a usable entry by weight with a linear scan of the weights, among those r
// does not exclude when notExcluded is set. It finds none when there is none to draw from.
func (s *laSnapshot) drawLinear(r *Request, notExcluded bool) (int, int64, bool) {
	usable := func(i int) int64 {
		if w := s.tree.leaf[i].Load(); w > 0 && !(notExcluded && excluded(r, s.servers[i].Addr)) {
			return w
		}
		return 0
	}
	var sum int64
	for i := range s.tree.leaf {
		sum += usable(i)
	}
	if sum <= 0 {
		return 0, 0, false
	}
	dice := rand.Int64N(sum)
	for i := range s.tree.leaf {
		if w := usable(i); w > 0 {
			if dice < w {
				return i, dice, true
			}
			dice -= w
		}
	}
	return 0, 0, false // the weights shrank under us
}

// raiseToFloor brings entry i up to floor if it is usable and below it. The floor grows with
// the total while an unpicked entry's weight stays put; each Pick checking one random entry
// keeps every usable entry at or above it.
func (s *laSnapshot) raiseToFloor(i int, now, floor int64) {
	if w := s.tree.leaf[i].Load(); w > 0 && w < floor {
		s.tree.set(i, s.nodes[i].weight(now, floor))
	}
}
