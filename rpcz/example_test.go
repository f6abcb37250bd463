package rpcz_test

import (
	"context"
	"fmt"
	"log"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/rpcz"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A call that was retried, as rpcz keeps it: the call with one span per attempt.
func Example() {
	rec := rpcz.New(&rpcz.Options{PerSecond: -1}) // record every call
	sys, err := actors.NewSystem(&actors.SystemOptions{Rpcz: rec})
	if err != nil {
		log.Fatal(err)
	}
	defer sys.Shutdown()
	// Nothing listens on port 1: the connection is refused, and the call retried twice.
	ch, err := sys.NewChannel("127.0.0.1:1", &actors.ChannelOptions{MaxRetry: 2})
	if err != nil {
		log.Fatal(err)
	}
	msg := "hello"
	err = ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: &msg}, &echopb.EchoResponse{}, nil)
	fmt.Println("call failed:", err != nil)

	for _, t := range rec.Recent(rpcz.Query{AnyError: true}) {
		fmt.Println(t.Kind, t.Method, "failed:", t.Failed())
		for _, at := range t.Children {
			// The first attempt is refused; the others find the server isolated (EHOSTDOWN).
			fmt.Println("  ", at.Kind, "retry", at.Retry, "failed:", at.Failed())
		}
	}
	// Output:
	// call failed: true
	// call example.EchoService.Echo failed: true
	//    attempt retry 0 failed: true
	//    attempt retry 1 failed: true
	//    attempt retry 2 failed: true
}
