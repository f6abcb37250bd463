package echopbtroupe_test

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// greeter is a program's own implementation of example.EchoService.
type greeter struct{}

func (greeter) Echo(_ context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	return &echopb.EchoResponse{Message: proto.String("hello, " + req.GetMessage())}, nil
}

// A server registers its implementation of the service, a client calls it over a channel:
// synchronously, and asynchronously with a response it owns.
func Example() {
	srv, _ := actors.NewServer(nil)
	_ = echopbtroupe.RegisterEchoServiceServer(srv, greeter{})
	addr, _ := srv.Listen("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr.String(), nil)
	defer ch.Close()
	client := echopbtroupe.NewEchoServiceClient(ch)

	ctx := context.Background()
	resp, err := client.Echo(ctx, &echopb.EchoRequest{Message: proto.String("sync")}, nil)
	fmt.Println(resp.GetMessage(), err)

	var async echopb.EchoResponse
	call := client.GoEcho(ctx, &echopb.EchoRequest{Message: proto.String("async")}, &async, nil, nil)
	err = call.Wait()
	fmt.Println(async.GetMessage(), err)
	// Output:
	// hello, sync <nil>
	// hello, async <nil>
}
