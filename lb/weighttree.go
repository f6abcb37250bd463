package lb

import (
	"math/bits"
	"sync/atomic"
)

// weightTree is a Fenwick tree of int64 weights made of atomics, for weighted random selection
// without locks. Concurrent set calls keep every sum exact once they are all done. Until then
// (and a set can be descheduled halfway for milliseconds) the weights, the sums and the total
// disagree: a draw below sum, which reads the same sums find walks, lands on some entry, whose
// weight may no longer cover the draw.
type weightTree struct {
	leaf  []atomic.Int64 // the weights
	tree  []atomic.Int64 // 1-based Fenwick sums of leaf
	total atomic.Int64
	top   int // the highest power of two ≤ len(leaf)
}

func newWeightTree(weights []int64) *weightTree {
	n := len(weights)
	t := &weightTree{leaf: make([]atomic.Int64, n), tree: make([]atomic.Int64, n+1)}
	sums := make([]int64, n+1)
	var total int64
	for i, w := range weights {
		t.leaf[i].Store(w)
		total += w
		sums[i+1] += w
		if up := (i + 1) + (i+1)&-(i+1); up <= n {
			sums[up] += sums[i+1]
		}
		t.tree[i+1].Store(sums[i+1])
	}
	t.total.Store(total)
	if n > 0 {
		t.top = 1 << (bits.Len(uint(n)) - 1)
	}
	return t
}

// set changes the weight of entry i to w.
func (t *weightTree) set(i int, w int64) {
	if t.leaf[i].Load() == w {
		return // the common case at a pick; a write would bounce the cache line
	}
	d := w - t.leaf[i].Swap(w)
	if d == 0 {
		return
	}
	for j := i + 1; j < len(t.tree); j += j & -j {
		t.tree[j].Add(d)
	}
	t.total.Add(d)
}

// sum returns the total weight as the tree's sums hold it: the range a draw for find is taken
// from. It equals total once concurrent set calls are done.
func (t *weightTree) sum() int64 {
	var s int64
	for j := len(t.leaf); j > 0; j -= j & -j {
		s += t.tree[j].Load()
	}
	return s
}

// find returns the entry whose range of [0, sum) holds dice and the offset of dice in it. While
// a set is under way the entry it lands on may weigh less than the offset found; it is still the
// answer, with the offset wrapped into its weight. Only a draw that lands past the last entry,
// or on an entry of weight 0, finds nothing.
func (t *weightTree) find(dice int64) (i int, offset int64, ok bool) {
	pos := 0
	for step := t.top; step > 0; step >>= 1 {
		if next := pos + step; next < len(t.tree) {
			if v := t.tree[next].Load(); v <= dice {
				pos, dice = next, dice-v
			}
		}
	}
	if pos >= len(t.leaf) || dice < 0 {
		return 0, 0, false
	}
	w := t.leaf[pos].Load()
	if w <= 0 {
		return 0, 0, false
	}
	return pos, dice % w, true
}
