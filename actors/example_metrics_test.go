package actors_test

import (
	"context"
	"fmt"
	"log"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// Metrics are on by default: System.Stats and Server.Stats give every method's calls, errors by
// brpc code, calls in flight and latency percentiles, since start and over the last minute.
func ExampleSystem_Stats() {
	srv, _ := actors.NewServer(nil)
	_ = (&echoservice.Service{}).Register(srv)
	addr, _ := srv.Listen("127.0.0.1:0")
	defer srv.Shutdown(context.Background())
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, err := sys.NewChannel(addr.String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	for i := range 5 {
		req := &echopb.EchoRequest{Message: proto.String("hello")}
		if i == 4 {
			req.FailCode = proto.Int32(int32(wire.EREQUEST)) // the server fails this one
		}
		_ = ch.Call(context.Background(), echoservice.Method, req, &echopb.EchoResponse{}, nil)
	}
	for _, c := range sys.Stats().Channels {
		for _, m := range c.Methods {
			fmt.Printf("client %s: %d calls, %d EREQUEST, %d in flight, p99 > 0: %v\n",
				m.Method, m.Calls, m.Errors[wire.EREQUEST], m.InFlight, m.Latency.P99 > 0)
		}
	}
	for _, m := range srv.Stats().Methods {
		fmt.Printf("server %s: %d calls, %d EREQUEST, last minute %d calls\n",
			m.Method, m.Calls, m.Errors[wire.EREQUEST], m.LastMinute.Count)
	}
	// Output:
	// client example.EchoService.Echo: 5 calls, 1 EREQUEST, 0 in flight, p99 > 0: true
	// server example.EchoService.Echo: 5 calls, 1 EREQUEST, last minute 5 calls
}

// With a MeterProvider the same metrics go to OpenTelemetry (here the SDK with a manual reader;
// a Prometheus exporter works the same way, see examples/metrics). troupe never touches the
// global provider.
func ExampleSystemOptions_meterProvider() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	srv, _ := actors.NewServer(&actors.ServerOptions{MeterProvider: mp})
	_ = (&echoservice.Service{}).Register(srv)
	addr, _ := srv.Listen("127.0.0.1:0")
	defer srv.Shutdown(context.Background())
	sys, _ := actors.NewSystem(&actors.SystemOptions{MeterProvider: mp})
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr.String(), nil)
	_ = ch.Call(context.Background(), echoservice.Method,
		&echopb.EchoRequest{Message: proto.String("hello")}, &echopb.EchoResponse{}, nil)

	names := collect(nil, reader)
	for _, n := range []string{"rpc.client.duration", "rpc.server.duration", "troupe.rpc.client.calls", "troupe.socket.bytes_out"} {
		_, ok := names[n]
		fmt.Println(n, ok)
	}
	// Output:
	// rpc.client.duration true
	// rpc.server.duration true
	// troupe.rpc.client.calls true
	// troupe.socket.bytes_out true
}
