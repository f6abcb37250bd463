package actors_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// exampleServer starts an echo server on a free loopback port and returns its address and a
// function that stops it.
func exampleServer(sleep time.Duration) (string, func()) {
	srv, _ := actors.NewServer(nil)
	_ = (&echoservice.Service{Sleep: sleep, EchoAttachment: true}).Register(srv)
	addr, _ := srv.Listen("127.0.0.1:0")
	return addr.String(), func() { _ = srv.Shutdown(context.Background()) }
}

func ExamplePlainChannel_Call() {
	addr, stop := exampleServer(0)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr, nil)

	var cntl actors.Controller
	cntl.SetRequestAttachment([]byte("extra bytes"))
	resp := &echopb.EchoResponse{}
	err := ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hello")}, resp, &cntl)
	fmt.Println(resp.GetMessage(), string(cntl.ResponseAttachment()), err)
	// Output: hello extra bytes <nil>
}

func ExamplePlainChannel_Go() {
	addr, stop := exampleServer(0)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr, nil)

	resp := &echopb.EchoResponse{}
	call := ch.Go(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("async")}, resp, nil,
		func(c *actors.Controller) { fmt.Println("done:", resp.GetMessage(), c.Err()) })
	_ = call.Wait() // waits for the call and its callback
	// Output: done: async <nil>
}

func ExampleJoin() {
	addr, stop := exampleServer(0)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr, nil)

	resps := []*echopb.EchoResponse{{}, {}, {}}
	var calls []*actors.Call
	for i, r := range resps {
		calls = append(calls, ch.Go(context.Background(), echoservice.Method,
			&echopb.EchoRequest{Message: proto.String(fmt.Sprint("call ", i))}, r, nil, nil))
	}
	actors.Join(calls...) // brpc's semi-synchronous call: start several, then wait for all
	for _, r := range resps {
		fmt.Println(r.GetMessage())
	}
	// Output:
	// call 0
	// call 1
	// call 2
}

func ExampleCall_Cancel() {
	addr, stop := exampleServer(time.Second)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr, nil)

	call := ch.Go(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("slow")},
		&echopb.EchoResponse{}, nil, nil)
	call.Cancel()
	err := call.Wait()
	fmt.Println(wire.ErrnoOf(err).Name(), errors.Is(err, context.Canceled))
	// Output: ECANCELED true
}

func ExampleController_SetTimeout() {
	addr, stop := exampleServer(time.Second)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr, nil)

	var cntl actors.Controller
	cntl.SetTimeout(20 * time.Millisecond)
	err := ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("slow")},
		&echopb.EchoResponse{}, &cntl)
	fmt.Println(cntl.ErrorCode().Name(), errors.Is(err, context.DeadlineExceeded))
	// Output: ERPCTIMEDOUT true
}

func ExampleHandle() {
	srv, _ := actors.NewServer(nil)
	err := actors.Handle(srv, "example.EchoService.Echo",
		func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			if req.GetMessage() == "" {
				return nil, &wire.Error{Code: wire.EREQUEST, Text: "empty message"}
			}
			return &echopb.EchoResponse{Message: proto.String("echo: " + req.GetMessage())}, nil
		})
	addr, _ := srv.Listen("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr.String(), nil)
	resp := &echopb.EchoResponse{}
	_ = ch.Call(context.Background(), "example.EchoService.Echo", &echopb.EchoRequest{Message: proto.String("hi")}, resp, nil)
	fmt.Println(err, resp.GetMessage())
	// Output: <nil> echo: hi
}
