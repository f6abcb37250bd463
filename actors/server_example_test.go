package actors_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// An interceptor that logs every call with its log id, refuses empty messages without calling
// the handler, and tags the answers it lets through with a response user field.
func ExampleServerInterceptor() {
	logCalls := func(ctx context.Context, call *actors.ServerCall, req proto.Message, handler actors.ServerHandler) (proto.Message, error) {
		fmt.Printf("call %s log_id=%d\n", call.Method(), call.LogID())
		if req.(*echopb.EchoRequest).GetMessage() == "" {
			return nil, &wire.Error{Code: wire.EREQUEST, Text: "empty message"}
		}
		call.SetResponseUserField("served-by", "example")
		return handler(ctx, req)
	}
	srv, _ := actors.NewServer(&actors.ServerOptions{Interceptors: []actors.ServerInterceptor{logCalls}})
	_ = (&echoservice.Service{}).Register(srv)
	addr, _ := srv.Listen("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr.String(), nil)
	var cntl actors.Controller
	cntl.SetLogID(7)
	resp := &echopb.EchoResponse{}
	err := ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")}, resp, &cntl)
	fmt.Println(resp.GetMessage(), err)
	err = ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("")}, resp, nil)
	fmt.Println(wire.ErrnoOf(err).Name())
	// Output:
	// call example.EchoService.Echo log_id=7
	// hi <nil>
	// call example.EchoService.Echo log_id=0
	// EREQUEST
}

// A handler's ctx carries the deadline the client sent: here the call's 50 ms timeout ends both
// the call and the handler's wait. What the handler returns then is dropped, as the client has
// given up.
func ExampleServerCall_deadline() {
	stopped := make(chan error, 1)
	srv, _ := actors.NewServer(nil)
	_ = actors.Handle(srv, "example.Slow.Work", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		_, hasDeadline := ctx.Deadline()
		fmt.Println("handler has a deadline:", hasDeadline)
		<-ctx.Done() // the work would stop here
		stopped <- ctx.Err()
		return nil, ctx.Err()
	})
	addr, _ := srv.Listen("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr.String(), &actors.ChannelOptions{Timeout: 50 * time.Millisecond})
	err := ch.Call(context.Background(), "example.Slow.Work", &echopb.EchoRequest{Message: proto.String("x")}, &echopb.EchoResponse{}, nil)
	fmt.Println("handler stopped:", <-stopped)
	fmt.Println("call ended:", wire.ErrnoOf(err).Name())
	// Output:
	// handler has a deadline: true
	// handler stopped: context deadline exceeded
	// call ended: ERPCTIMEDOUT
}
