package combo_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// shoutingChannel is a user's own channel: it asks its inner channel for the request in upper
// case. Any actors.Channel nests in a combo channel, which makes its sub-calls with Go.
type shoutingChannel struct{ inner actors.Channel }

func (s shoutingChannel) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return s.Go(ctx, method, req, resp, cntl, nil).Wait()
}

func (s shoutingChannel) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	if r, ok := req.(*echopb.EchoRequest); ok {
		req = &echopb.EchoRequest{Message: proto.String(fmt.Sprintf("%s!", r.GetMessage()))}
	}
	return s.inner.Go(ctx, method, req, resp, cntl, done)
}

func (s shoutingChannel) Close() error { return s.inner.Close() }

// A channel a user wrote takes part in a parallel call like troupe's own: here the first
// sub-channel is a plain channel, the second the user's, and each answer lands in its sub-call's
// response.
func ExampleParallelChannel_userChannel() {
	addrs, stop := exampleServers(1)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, _ := sys.NewChannel(addrs[0], nil)
	defer ch.Close()

	answers := make([]*echopb.EchoResponse, 2)
	keep := combo.ResponseMergerFunc(func(_, sub proto.Message) combo.MergeResult { return combo.Merged })
	p, _ := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: 5 * time.Second})
	for i, sub := range []actors.Channel{ch, shoutingChannel{inner: ch}} {
		mapper := combo.CallMapperFunc(func(_, _ int, method string, req, _ proto.Message) combo.SubCall {
			answers[i] = &echopb.EchoResponse{}
			return combo.SubCall{Method: method, Request: req, Response: answers[i]}
		})
		_ = p.AddChannel(sub, combo.DoesntOwnChannel, mapper, keep)
	}
	defer p.Close()

	var cntl actors.Controller
	err := p.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hello")},
		&echopb.EchoResponse{}, &cntl)
	fmt.Println(err)
	fmt.Println(answers[0].GetMessage(), "/", answers[1].GetMessage())
	fmt.Println(cntl.Sub(1).RemoteSide() == addrs[0])
	// Output:
	// <nil>
	// hello / hello!
	// true
}
