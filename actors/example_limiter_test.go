package actors_test

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func ExampleServerOptions_methodMaxConcurrency() {
	srv, _ := actors.NewServer(&actors.ServerOptions{MethodMaxConcurrency: map[string]string{
		"example.Jobs.Run": "1",    // one at a time
		"*":                "auto", // every other method: brpc's auto limiter
	}})
	entered, finish := make(chan struct{}), make(chan struct{})
	_ = actors.Handle(srv, "example.Jobs.Run", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		entered <- struct{}{}
		<-finish
		return &echopb.EchoResponse{Message: req.Message}, nil
	})
	addr, _ := srv.Listen("127.0.0.1:0")
	defer srv.Shutdown(context.Background())
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addr.String(), &actors.ChannelOptions{MaxRetry: actors.NoRetry})

	req := &echopb.EchoRequest{Message: proto.String("job")}
	first := ch.Go(context.Background(), "example.Jobs.Run", req, &echopb.EchoResponse{}, nil, nil)
	<-entered // the first job runs; a second one is over the limit
	err := ch.Call(context.Background(), "example.Jobs.Run", req, &echopb.EchoResponse{}, nil)
	var werr *wire.Error
	fmt.Println(errors.Is(err, wire.ELIMIT), errors.As(err, &werr) && werr.Remote)
	fmt.Println(werr.Text)
	close(finish)
	fmt.Println(first.Wait())
	// Output:
	// true true
	// Rejected by example.Jobs.Run's ConcurrencyLimiter, concurrency=2, max_concurrency=1
	// <nil>
}
