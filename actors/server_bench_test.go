package actors_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
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
