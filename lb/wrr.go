package lb

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync/atomic"

	"github.com/troupe-rpc/troupe/wire"
)

// Weight returns the weight wrr gives n: n.Weight when it is positive (at most 2^32−1), else
// n.Tag read as an unsigned 32-bit decimal integer when that is positive. ok is false when
// neither gives a weight; wrr then leaves n out, as brpc refuses to add it.
func Weight(n ServerNode) (w uint64, ok bool) {
	if n.Weight > 0 {
		return min(uint64(n.Weight), math.MaxUint32), true
	}
	v, err := strconv.ParseUint(n.Tag, 10, 32)
	if err != nil || v == 0 {
		return 0, false
	}
	return v, true
}

// weightedRR is brpc's "wrr". Its counter is shared by all its Pickers.
type weightedRR struct {
	next atomic.Uint64
}

func (b *weightedRR) Name() string      { return "wrr" }
func (b *weightedRR) Feedback(Feedback) {}

// Build keeps the servers that have a weight, each address once (the first entry wins, as
// brpc keys wrr by socket). Picks walk the usable ones; the Down ones are kept for the walk
// over exclusions, where brpc counts them as candidates. The servers left out for want of a
// valid weight, which brpc logs ("Invalid weight is set"), are named by the Picker's
// BuildError and by its EHOSTDOWN errors when no server has a weight.
func (b *weightedRR) Build(servers []Server) Picker {
	p := &wrrPicker{b: b, servers: servers, base: rand.Uint64()}
	seen := make(map[string]bool, len(servers))
	for i := range servers {
		w, ok := Weight(servers[i].ServerNode)
		if !ok {
			p.invalid = append(p.invalid, servers[i].ServerNode)
			continue
		}
		if seen[servers[i].Addr] {
			continue
		}
		seen[servers[i].Addr] = true
		p.all = append(p.all, wrrEntry{index: int32(i), weight: w})
		p.allSum += w
		if !servers[i].Down {
			p.sum += w
			p.up = append(p.up, int32(len(p.all)-1))
			p.end = append(p.end, p.sum)
		}
	}
	if p.sum > 0 {
		p.stride = wrrStride(p.sum, len(p.up))
	}
	return p
}

type wrrEntry struct {
	index  int32 // in the server list
	weight uint64
}

type wrrPicker struct {
	b       *weightedRR
	servers []Server
	all     []wrrEntry // the weighted servers, Down ones too, in list order
	allSum  uint64
	up      []int32  // positions in all of the usable ones
	end     []uint64 // running sums of their weights: up[i] owns units [end[i−1], end[i])
	sum     uint64
	stride  uint64 // coprime with sum
	base    uint64 // random start of the walk
	invalid invalidWeights
}

// BuildError names the servers Build left out for want of a valid weight; nil when none was.
func (p *wrrPicker) BuildError() error { return p.invalid.err() }

// Pick takes the k-th pick's unit (base + k·stride) mod sum, k from the shared counter; since
// stride and sum are coprime, sum consecutive picks hit every unit once.
func (p *wrrPicker) Pick(r *Request) (int, error) {
	if len(p.servers) == 0 {
		return -1, errNoData()
	}
	if p.sum == 0 {
		if len(p.all) == 0 && len(p.invalid) > 0 {
			return -1, wire.Errorf(wire.EHOSTDOWN, "no usable server: "+p.invalid.text())
		}
		return -1, errHostDown()
	}
	k := p.b.next.Add(1)
	u := (p.base%p.sum + mulMod(k%p.sum, p.stride, p.sum)) % p.sum
	first := p.up[firstAbove(p.end, u)]
	if j := p.all[first].index; len(p.all) == 1 || !excluded(r, p.servers[j].Addr) {
		return int(j), nil
	}
	return p.pickExcluding(r, k, first)
}

// pickExcluding is brpc's walk after the first choice (position first in all) was excluded:
// leave that candidate out, recompute the stride for the weight and number of candidates
// left, take the k-th pick among them, and so on; a Down or excluded candidate is left out
// too, except that the last candidate is taken if usable, even if excluded.
func (p *wrrPicker) pickExcluding(r *Request, k uint64, first int32) (int, error) {
	out := make([]bool, len(p.all))
	out[first] = true
	sum, left := p.allSum-p.all[first].weight, len(p.all)-1
	for left > 0 {
		c := p.nth(out, (p.base%sum+mulMod(k%sum, wrrStride(sum, left), sum))%sum)
		j := p.all[c].index
		if !p.servers[j].Down && (left == 1 || !excluded(r, p.servers[j].Addr)) {
			return int(j), nil
		}
		out[c] = true
		sum -= p.all[c].weight
		left--
	}
	return -1, errHostDown()
}

// nth returns the position in all of the candidate that owns weight unit u among those not
// left out.
func (p *wrrPicker) nth(out []bool, u uint64) int {
	for c := range p.all {
		if out[c] {
			continue
		}
		if u < p.all[c].weight {
			return c
		}
		u -= p.all[c].weight
	}
	panic("lb: wrr unit beyond the weight sum")
}

// primeStrides are brpc's candidate strides for wrr (weighted_round_robin_load_balancer.cpp).
var primeStrides = [...]uint64{
	2, 3, 5, 11, 17, 29, 47, 71, 107, 137, 163, 251, 307, 379, 569, 683, 857, 1289, 1543,
	1949, 2617, 2927, 3407, 4391, 6599, 9901, 14867, 22303, 33457, 50207, 75323, 112997,
	169501, 254257, 381389, 572087, 849083, 1273637, 1910471, 2865727, 4298629, 6447943,
	9671923, 14507903, 21761863, 32642861, 48964297, 73446469, 110169743, 165254623,
	247881989, 371822987, 557734537, 836601847, 1254902827, 1882354259, 2823531397,
	4235297173, 6352945771, 9529418671,
}

// wrrStride is brpc's GetStride: the first candidate at least the mean weight that is coprime
// with sum, reduced modulo sum; 1 when sum is 1. Past the table it counts up from the mean.
func wrrStride(sum uint64, n int) uint64 {
	if sum == 1 {
		return 1
	}
	avg := sum / uint64(n)
	i := sort.Search(len(primeStrides), func(i int) bool { return primeStrides[i] >= avg })
	for ; i < len(primeStrides); i++ {
		if gcd(sum, primeStrides[i]) == 1 {
			return reduce(primeStrides[i], sum)
		}
	}
	s := max(avg, 2)
	for gcd(sum, s) != 1 {
		s++
	}
	return reduce(s, sum)
}

func reduce(s, sum uint64) uint64 {
	if s > sum {
		return s % sum
	}
	return s
}

// mulMod returns a·b mod m without overflow.
func mulMod(a, b, m uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return bits.Rem64(hi, lo, m)
}

// firstAbove returns the index of the first element of the ascending end that is above u.
func firstAbove(end []uint64, u uint64) int {
	lo, hi := 0, len(end)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if end[mid] > u {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}
