package actors_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// BenchmarkServerHandlerContext measures an echo whose request carries timeout_ms (troupe's
// channels send it by default) against handlers that ignore their ctx, which then costs no timer,
// and that look at ctx.Done, which makes the deadline context. allocs/op counts client and server.
func BenchmarkServerHandlerContext(b *testing.B) {
	srv := newServer(b, nil)
	echo := func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	}
	handle(b, srv, "bench.Svc.Ignore", echo)
	handle(b, srv, "bench.Svc.Watch", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		default:
		}
		return echo(ctx, req)
	})
	ch, err := newSystem(b).NewChannel(listen(b, srv), &actors.ChannelOptions{Timeout: testTimeout})
	if err != nil {
		b.Fatal(err)
	}
	for _, method := range []string{"bench.Svc.Ignore", "bench.Svc.Watch"} {
		b.Run(method[len("bench.Svc."):], func(b *testing.B) {
			req, resp := hello("0123456789abcdef"), &echopb.EchoResponse{}
			b.ReportAllocs()
			for b.Loop() {
				if err := ch.Call(context.Background(), method, req, resp, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServerEcho measures the server alone: a client on a plain TCP connection writes
// batches of echo requests, each batch in one write, and reads their answers before it writes
// the next, as troupe's channels and brpc's send (timeout_ms set, the example EchoService). With
// a batch of 8 the server handles the requests in place and answers them in one write: ns/op is
// the server's cost per request plus the client's share, most of it the system calls. allocs/op
// is the server's (the client reuses its buffers).
func BenchmarkServerEcho(b *testing.B) {
	srv := newServer(b, nil)
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		b.Fatal(err)
	}
	conn, err := net.Dial("tcp", listen(b, srv))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	payload, err := proto.Marshal(hello("0123456789abcdef"))
	if err != nil {
		b.Fatal(err)
	}
	r := wire.NewReader(bufio.NewReaderSize(conn, 64<<10), 0)
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var out []byte
			var f wire.Frame
			id := int64(0)
			b.ReportAllocs()
			for n := 0; b.Loop(); n++ {
				if n%batch != 0 {
					continue
				}
				out = out[:0]
				for i := range batch {
					m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"),
						CorrelationID: id + int64(i), TimeoutMs: 100}
					out = wire.AppendFrame(out, &m, payload, nil)
				}
				if _, err := conn.Write(out); err != nil {
					b.Fatal(err)
				}
				seen := uint64(0) // answers may come in any order: a handler may run on a worker
				for range batch {
					if err := r.ReadFrame(&f); err != nil {
						b.Fatal(err)
					}
					i := f.Meta.CorrelationID - id
					if i < 0 || i >= int64(batch) || seen&(1<<i) != 0 || f.Meta.ErrorCode != 0 {
						b.Fatalf("answer with correlation id %d (batch from %d), error %d %s", f.Meta.CorrelationID, id, f.Meta.ErrorCode, f.Meta.ErrorText)
					}
					seen |= 1 << i
				}
				id += int64(batch)
			}
		})
	}
}
