package actors_test

import (
	"context"
	"fmt"
	"log"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// The README's quick start: a server, a client, a synchronous and an asynchronous call. The
// README shows this function's body as a program's main; a test keeps the two the same.
func Example_quickStart() {
	// A baidu_std server (brpc clients can call it too).
	srv, _ := actors.NewServer(nil)
	_ = (&echoservice.Service{}).Register(srv) // or actors.Handle(srv, "pkg.Service.Method", fn)
	addr, _ := srv.Listen("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	// A client: one System per process, channels to servers, calls.
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, err := sys.NewChannel(addr.String(), &actors.ChannelOptions{MaxRetry: 2})
	if err != nil {
		log.Fatal(err)
	}
	resp := &echopb.EchoResponse{}
	err = ch.Call(context.Background(), echoservice.Method,
		&echopb.EchoRequest{Message: proto.String("hello")}, resp, nil)
	fmt.Println(resp.GetMessage(), err) // hello <nil>

	call := ch.Go(context.Background(), echoservice.Method, // asynchronous
		&echopb.EchoRequest{Message: proto.String("later")}, &echopb.EchoResponse{}, nil,
		func(c *actors.Controller) { fmt.Println("done:", c.Err()) })
	actors.Join(call) // semi-synchronous: wait for calls and their callbacks
	// Output:
	// hello <nil>
	// done: <nil>
}
