package lb

import (
	"math/rand/v2"
	"testing"
)

// TestWeightTree is brpc's la_sanity for the Fenwick tree: after random changes the total is
// the sum of the weights and every draw lands on the entry that owns it.
func TestWeightTree(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 8, 256} {
		weights := make([]int64, n)
		for i := range weights {
			weights[i] = rand.Int64N(100)
		}
		tree := newWeightTree(weights)
		for round := range 5 {
			for range n / 2 {
				i := rand.IntN(n)
				weights[i] = rand.Int64N(100) * int64(round%2) // odd rounds zero some out
				tree.set(i, weights[i])
			}
			checkTree(t, tree, weights)
		}
	}
}

func checkTree(t *testing.T, tree *weightTree, weights []int64) {
	t.Helper()
	var sum int64
	for i, w := range weights {
		for off := int64(0); off < w; off++ {
			if got, gotOff, ok := tree.find(sum + off); !ok || got != i || gotOff != off {
				t.Fatalf("find(%d) = %d, %d, %v, want %d, %d", sum+off, got, gotOff, ok, i, off)
			}
		}
		sum += w
	}
	if total := tree.total.Load(); total != sum {
		t.Fatalf("total = %d, want %d", total, sum)
	}
	if _, _, ok := tree.find(sum); ok {
		t.Fatalf("find(total) found an entry")
	}
}
