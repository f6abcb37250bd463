package lb

import (
	"fmt"
	"testing"
)

// A goroutine can be descheduled halfway through a weight change, leaving the tree's sums, its
// total and the changed weight out of step for as long as it waits. Picks meanwhile must still
// find a server: an la picker must not fail with EHOSTDOWN while every server is up.
func TestLocalityAwarePicksDuringAnUnfinishedWeightChange(t *testing.T) {
	const heavy = int64(1) << 60 // one server holds nearly all the weight
	for _, c := range []struct {
		name string
		stop func(tree *weightTree) // applies the first part of setting entry 0 from heavy to 1000
	}{
		{"weight changed, sums not yet", func(tree *weightTree) { tree.leaf[0].Store(1000) }},
		{"weight and sums changed, total not yet", func(tree *weightTree) {
			tree.leaf[0].Store(1000)
			for j := 1; j < len(tree.tree); j += j & -j {
				tree.tree[j].Add(1000 - heavy)
			}
		}},
		// A change that raised entry 1 waits to add to the sums while another lowers it again:
		// the sums fall below zero until the first one resumes.
		{"sums below zero", func(tree *weightTree) {
			tree.leaf[0].Store(1000)
			for j := 1; j < len(tree.tree); j += j & -j {
				tree.tree[j].Add(1000 - heavy)
			}
			tree.total.Add(1000 - heavy)
			old := tree.leaf[1].Swap(heavy) // raised, not yet added
			tree.set(1, old)                // lowered again, in full
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			servers := make([]Server, 256)
			for i := range servers {
				servers[i] = Server{ServerNode: ServerNode{Addr: fmt.Sprintf("10.0.0.%d:80", i)}}
			}
			p := newLocalityAware().Build(servers).(*laPicker)
			p.s.tree.set(0, heavy)
			c.stop(p.s.tree)
			for n := range 200 {
				if _, err := p.Pick(&Request{}); err != nil {
					t.Fatalf("pick %d: %v, want a server", n, err)
				}
			}
		})
	}
}
