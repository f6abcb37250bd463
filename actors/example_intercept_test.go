package actors_test

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A logging interceptor: it tags every call with a user field and prints the method and the
// error code of each call, synchronous or not.
func ExampleInterceptor() {
	addr, stop := exampleServer(0)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()

	logging := func(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, next actors.Invoker) error {
		cntl.SetRequestUserField("client", "example")
		err := next(ctx, method, req, resp, cntl)
		fmt.Printf("%s: code %d\n", method, int(wire.ErrnoOf(err)))
		return err
	}
	ch, _ := sys.NewChannel(addr, &actors.ChannelOptions{Interceptors: []actors.Interceptor{logging}})

	_ = ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")}, &echopb.EchoResponse{}, nil)
	call := ch.Go(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("no"), FailCode: proto.Int32(int32(wire.EREJECT))},
		&echopb.EchoResponse{}, nil, nil)
	_ = call.Wait()
	// Output:
	// example.EchoService.Echo: code 0
	// example.EchoService.Echo: code 1018
}

// Metadata both ways: user fields and trace ids go out in the request meta, and the user fields
// the server put in the response meta come back in the Controller.
func ExampleController_SetRequestUserField() {
	addr, stop := exampleServer(0)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr, nil)

	var cntl actors.Controller
	cntl.SetRequestUserField("tenant", "acme")
	cntl.SetTraceID(0x5eed)
	cntl.SetSpanID(1)
	err := ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")}, &echopb.EchoResponse{}, &cntl)
	tenant, _ := cntl.RequestUserField("tenant")
	fmt.Println(tenant, cntl.TraceID(), err, len(cntl.ResponseUserFields()))
	// Output: acme 24301 <nil> 0
}
