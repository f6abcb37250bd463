package combo_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// benchCallers is how many calls are in flight at once in the fan-out benchmarks, as in the V4
// measurements of actor-call-feasibility.md.
const benchCallers = 8

// BenchmarkFanOut compares a parallel call (nil mapper and merger: the request broadcast, the
// answers merged with proto.Merge in sub-channel order) with the same fan-out written by hand
// over the same plain channels: a goroutine per sub-call doing ch.Call, a WaitGroup, then
// proto.Merge in index order. Each op is one fanned-out call; allocs/op counts client and server
// together, both running in the benchmark's process.
func BenchmarkFanOut(b *testing.B) {
	for _, tc := range []struct{ ways, servers int }{{4, 1}, {4, 4}, {16, 1}, {16, 4}, {64, 4}} {
		b.Run(fmt.Sprintf("ways=%d/servers=%d", tc.ways, tc.servers), func(b *testing.B) {
			var addrs []string
			for range tc.servers {
				addrs = append(addrs, startEcho(b, nil))
			}
			sys := newSystem(b)
			chans := make([]*actors.PlainChannel, tc.ways)
			p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: 5 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			for i := range chans {
				chans[i] = plain(b, sys, addrs[i%len(addrs)], &actors.ChannelOptions{Timeout: 5 * time.Second})
				if err := p.AddChannel(chans[i], combo.OwnsChannel, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.Cleanup(func() { _ = p.Close() })
			b.Run("parallel", func(b *testing.B) {
				runCallers(b, tc.ways, func(req *echopb.EchoRequest, resp *echopb.EchoResponse) error {
					return p.Call(context.Background(), echoservice.Method, req, resp, nil)
				})
			})
			b.Run("goroutines", func(b *testing.B) {
				runCallers(b, tc.ways, func(req *echopb.EchoRequest, resp *echopb.EchoResponse) error {
					return handFanOut(chans, req, resp)
				})
			})
		})
	}
}

// runCallers runs call from benchCallers goroutines with b.RunParallel, and reports the
// allocations of each of the ways sub-calls of a call (client and server together).
func runCallers(b *testing.B, ways int, call func(req *echopb.EchoRequest, resp *echopb.EchoResponse) error) {
	b.ReportAllocs()
	b.SetParallelism(max(1, benchCallers/runtime.GOMAXPROCS(0)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	defer func() {
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*ways), "allocs/sub-call")
	}()
	b.RunParallel(func(pb *testing.PB) {
		req := echoReq("0123456789abcdef")
		resp := &echopb.EchoResponse{}
		for pb.Next() {
			resp.Reset()
			if err := call(req, resp); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// handFanOut is the fan-out a user would write without a parallel channel.
func handFanOut(chans []*actors.PlainChannel, req *echopb.EchoRequest, resp *echopb.EchoResponse) error {
	subs := make([]echopb.EchoResponse, len(chans))
	errs := make([]error, len(chans))
	var wg sync.WaitGroup
	for i, ch := range chans {
		wg.Go(func() { errs[i] = ch.Call(context.Background(), echoservice.Method, req, &subs[i], nil) })
	}
	wg.Wait()
	for i := range subs {
		if errs[i] != nil {
			return errs[i]
		}
		proto.Merge(resp, &subs[i])
	}
	return nil
}
