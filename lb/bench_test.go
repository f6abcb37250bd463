package lb_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/lb"
)

func BenchmarkPick(b *testing.B) {
	for _, policy := range pickers() {
		for _, n := range []int{10, 100, 1000} {
			b.Run(fmt.Sprintf("%s/%d", policy, n), func(b *testing.B) {
				p := mustNew(b, policy).Build(mkServers(n))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					r := request(policy)
					for pb.Next() {
						r.Code = (r.Code*2654435761 + 1) & math.MaxUint32
						if _, err := p.Pick(r); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		}
	}
}

// BenchmarkLocalityAwarePickFeedback is la's full cycle: a pick and its feedback.
func BenchmarkLocalityAwarePickFeedback(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			bal := mustNew(b, "la")
			servers := mkServers(n)
			p := bal.Build(servers)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := &lb.Request{Begin: time.Now()}
				for pb.Next() {
					i, err := p.Pick(r)
					if err != nil {
						b.Fatal(err)
					}
					bal.Feedback(lb.Feedback{Server: servers[i].ServerNode, Begin: r.Begin,
						Latency: time.Millisecond})
				}
			})
		})
	}
}

func BenchmarkNewRing(b *testing.B) {
	for _, n := range []int{100, 1000} {
		nodes := make([]lb.ServerNode, n)
		for i := range nodes {
			nodes[i] = lb.ServerNode{Addr: addrOf(i)}
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				lb.NewRing(nodes, lb.DefaultReplicas, lb.Murmur3)
			}
		})
	}
}
