package actors_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// BenchmarkUnaryEcho measures a 16-byte echo over loopback against troupe's own server, with one
// caller and with 64 concurrent callers sharing one channel (one connection). allocs/op counts
// client and server together: both run in the benchmark's process.
func BenchmarkUnaryEcho(b *testing.B) {
	_, addr := startEcho(b, nil)
	sys := newSystem(b)
	ch, err := sys.NewChannel(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	msg := "0123456789abcdef"
	b.Run("callers=1", func(b *testing.B) {
		req, resp := echoReq(msg), &echopb.EchoResponse{}
		b.ReportAllocs()
		for b.Loop() {
			if err := ch.Call(context.Background(), echoservice.Method, req, resp, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	// frames/write is how many requests the socket put in one write on average: the combining
	// of frames that concurrent callers queue together.
	counters := func() (frames, writes int64) {
		n := socketNode(sys, addr)
		if n == nil {
			return 0, 0
		}
		return n.Counters["frames"], n.Counters["writes"]
	}
	b.Run("callers=64", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(64 / max(1, testingGOMAXPROCS()))
		frames0, writes0 := counters()
		b.RunParallel(func(pb *testing.PB) {
			req, resp := echoReq(msg), &echopb.EchoResponse{}
			for pb.Next() {
				if err := ch.Call(context.Background(), echoservice.Method, req, resp, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
		if frames, writes := counters(); writes > writes0 {
			b.ReportMetric(float64(frames-frames0)/float64(writes-writes0), "frames/write")
		}
	})
}

// startBlackHole starts a server that reads every request and never answers, so that calls stall
// without costing a handler each.
func startBlackHole(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	b.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// BenchmarkCancelInFlight measures a call that is started, cancelled while its server stalls, and
// finished: spawn, attempt, cancel message, finish, actor stop.
func BenchmarkCancelInFlight(b *testing.B) {
	addr := startBlackHole(b)
	sys := newSystem(b)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: -1})
	if err != nil {
		b.Fatal(err)
	}
	req, resp := echoReq("x"), &echopb.EchoResponse{}
	b.ReportAllocs()
	for b.Loop() {
		c := ch.Go(context.Background(), echoservice.Method, req, resp, nil, nil)
		c.Cancel()
		if err := c.Wait(); err == nil {
			b.Fatal("cancelled call succeeded")
		}
	}
}

// BenchmarkTimeout measures a call whose deadline passes while its server stalls.
func BenchmarkTimeout(b *testing.B) {
	addr := startBlackHole(b)
	sys := newSystem(b)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: time.Microsecond})
	if err != nil {
		b.Fatal(err)
	}
	req, resp := echoReq("x"), &echopb.EchoResponse{}
	b.ReportAllocs()
	for b.Loop() {
		if err := ch.Call(context.Background(), echoservice.Method, req, resp, nil); err == nil {
			b.Fatal("call against a stalled server succeeded")
		}
	}
}

// BenchmarkTLSEcho compares a 16-byte echo over plain and TLS connections to the same server
// (one port serving both), with one caller and with 64 callers sharing a channel.
func BenchmarkTLSEcho(b *testing.B) {
	fx := newTLSFixture(b)
	srv, err := actors.NewServer(&actors.ServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{fx.server}}})
	if err != nil {
		b.Fatal(err)
	}
	_, addr := startEchoOn(b, srv)
	sys := newSystem(b)
	msg := "0123456789abcdef"
	for _, mode := range []string{"plain", "tls"} {
		o := &actors.ChannelOptions{ConnectTimeout: 5 * time.Second}
		if mode == "tls" {
			o.TLS = &tls.Config{RootCAs: fx.ca.Pool()}
		}
		ch, err := sys.NewChannel(addr, o)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(mode+"/callers=1", func(b *testing.B) {
			req, resp := echoReq(msg), &echopb.EchoResponse{}
			b.ReportAllocs()
			for b.Loop() {
				if err := ch.Call(context.Background(), echoservice.Method, req, resp, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(mode+"/callers=64", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(64 / max(1, testingGOMAXPROCS()))
			b.RunParallel(func(pb *testing.PB) {
				req, resp := echoReq(msg), &echopb.EchoResponse{}
				for pb.Next() {
					if err := ch.Call(context.Background(), echoservice.Method, req, resp, nil); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkPercentileBackup compares a 16-byte echo over loopback on a channel with a fixed
// 1 s BackupRequest and on one with PercentileBackup falling back to the same 1 s (MinSamples
// is never reached, so no answer is slow enough for a backup request and both arm the same
// timer), with a channel without backup requests as the baseline; and it measures the policy's
// own per-call work, Delay, DoBackup and OnCallEnd with the histogram walked every 64 calls. The
// policy adds no allocation per call.
func BenchmarkPercentileBackup(b *testing.B) {
	_, addr := startEcho(b, nil)
	sys := newSystem(b)
	msg := "0123456789abcdef"
	for _, name := range []string{"backup=none", "backup=fixed", "backup=percentile"} {
		b.Run(name, func(b *testing.B) {
			var opts actors.ChannelOptions
			switch name {
			case "backup=fixed":
				opts.BackupRequest = time.Second
			case "backup=percentile":
				p, err := actors.PercentileBackup(actors.PercentileBackupOptions{Fallback: time.Second, MinSamples: 1 << 30})
				if err != nil {
					b.Fatal(err)
				}
				opts.BackupPolicy = p
			}
			ch, err := sys.NewChannel(addr, &opts)
			if err != nil {
				b.Fatal(err)
			}
			defer ch.Close()
			req, resp := echoReq(msg), &echopb.EchoResponse{}
			b.ReportAllocs()
			for b.Loop() {
				if err := ch.Call(context.Background(), echoservice.Method, req, resp, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("policy-work", func(b *testing.B) {
		p, err := actors.PercentileBackup(actors.PercentileBackupOptions{MinSamples: 1})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			var cntl actors.Controller
			for pb.Next() {
				_ = p.Delay(&cntl)
				_ = p.DoBackup(&cntl)
				p.OnCallEnd(&cntl)
			}
		})
	})
}

// BenchmarkLargeCluster: 64 callers over a cluster channel of 1 000 servers (one troupe server
// listening on 1 000 ports; rr), against the same calls spread by hand, round robin, over 1 000
// plain channels. allocs/op counts client and server together.
func BenchmarkLargeCluster(b *testing.B) {
	const servers = 1000
	srv, err := actors.NewServer(nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		b.Fatal(err)
	}
	addrs := make([]string, servers)
	for i := range addrs {
		a, err := srv.Listen("127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addrs[i] = a.String()
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	sys := newSystem(b)
	opts := &actors.ChannelOptions{Timeout: 10 * time.Second, ConnectTimeout: 10 * time.Second}
	cluster, err := sys.NewChannel("list://"+strings.Join(addrs, ","), &actors.ChannelOptions{LoadBalancer: "rr",
		Timeout: opts.Timeout, ConnectTimeout: opts.ConnectTimeout})
	if err != nil {
		b.Fatal(err)
	}
	chans := make([]*actors.PlainChannel, servers)
	for i, a := range addrs {
		if chans[i], err = sys.NewChannel(a, opts); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Uint64
	for _, tc := range []struct {
		name string
		call func(req *echopb.EchoRequest, resp *echopb.EchoResponse) error
	}{
		{"cluster", func(req *echopb.EchoRequest, resp *echopb.EchoResponse) error {
			return cluster.Call(context.Background(), echoservice.Method, req, resp, nil)
		}},
		{"by-hand", func(req *echopb.EchoRequest, resp *echopb.EchoResponse) error {
			ch := chans[next.Add(1)%servers]
			return ch.Call(context.Background(), echoservice.Method, req, resp, nil)
		}},
	} {
		// Every server once before timing: the connections are dialled, not measured.
		for range servers {
			if err := tc.call(echoReq("warm"), &echopb.EchoResponse{}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(64 / max(1, testingGOMAXPROCS()))
			b.RunParallel(func(pb *testing.PB) {
				req, resp := echoReq("0123456789abcdef"), &echopb.EchoResponse{}
				for pb.Next() {
					if err := tc.call(req, resp); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkLargeEcho measures echoes of 64 KiB and 1 MiB, as the message (a string field, which
// parsing must copy) and as the attachment (which troupe never copies past the socket once it is
// large), with 1 and 16 callers on one connection. B/op and allocs/op count client and server
// together; MB/s counts the request and the response.
//
// The copies of a large message in user space, per call: the client marshals the request into a
// pooled buffer and encodes the frame into another (2; an attachment: 1), which becomes the
// connection's write queue or waits behind it uncopied. The server reads the body into a pooled
// buffer (the kernel's copy) and parses it (1; an attachment: 0), marshals the answer into a
// pooled buffer (1; an attachment: 0) and writes it with a vectored write from there. The client
// reads the answer into a pooled buffer and parses it (1; an attachment: 0, the caller takes the
// buffer).
func BenchmarkLargeEcho(b *testing.B) {
	_, addr := startEcho(b, &echoservice.Service{EchoAttachment: true})
	sys := newSystem(b)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{64 << 10, 1 << 20} {
		for _, kind := range []string{"payload", "attachment"} {
			for _, callers := range []int{1, 16} {
				name := fmt.Sprintf("size=%dKiB/%s/callers=%d", size>>10, kind, callers)
				b.Run(name, func(b *testing.B) {
					msg, att := strings.Repeat("m", size), []byte(nil)
					if kind == "attachment" {
						msg, att = "m", make([]byte, size)
					}
					b.SetBytes(2 * int64(size))
					b.ReportAllocs()
					b.SetParallelism(max(1, callers/max(1, testingGOMAXPROCS())))
					if callers == 1 {
						b.SetParallelism(1)
					}
					b.RunParallel(func(pb *testing.PB) {
						req, resp := echoReq(msg), &echopb.EchoResponse{}
						for pb.Next() {
							var cntl actors.Controller
							cntl.SetRequestAttachment(att)
							if err := ch.Call(context.Background(), echoservice.Method, req, resp, &cntl); err != nil {
								b.Error(err)
								return
							}
							if len(resp.GetMessage())+len(cntl.ResponseAttachment()) != len(msg)+len(att) {
								b.Errorf("echo of %d bytes came back with %d", len(msg)+len(att), len(resp.GetMessage())+len(cntl.ResponseAttachment()))
								return
							}
						}
					})
				})
			}
		}
	}
}
