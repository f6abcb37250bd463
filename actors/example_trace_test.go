package actors_test

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A traced client and server: the call's span, its attempt's span, and the server's span,
// continued from the ids the attempt carried in the request's meta.
func ExampleSystemOptions_tracerProvider() {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans)) // in production: a batcher and a real exporter
	defer tp.Shutdown(context.Background())

	srv, _ := actors.NewServer(&actors.ServerOptions{TracerProvider: tp})
	_ = (&echoservice.Service{}).Register(srv)
	addr, _ := srv.Listen("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	sys, _ := actors.NewSystem(&actors.SystemOptions{TracerProvider: tp})
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr.String(), nil)
	err := ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")}, &echopb.EchoResponse{}, nil)
	fmt.Println("call:", err)

	ended := spans.GetSpans() // in the order they ended: the server's first, the call's last
	for _, s := range ended {
		fmt.Println(s.SpanKind, s.Name)
	}
	server, attempt := ended[0], ended[1]
	fmt.Println("server span continues the attempt:", server.Parent.SpanID() == attempt.SpanContext.SpanID())
	// Output:
	// call: <nil>
	// server example.EchoService.Echo
	// client example.EchoService.Echo attempt
	// client example.EchoService.Echo
	// server span continues the attempt: true
}
