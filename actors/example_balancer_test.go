package actors_test

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// preferTag is a load balancer of a program's own: it sends each call to the first usable
// server tagged tag, and to the first other usable server when there is none (or when the
// call already tried it).
type preferTag struct{ tag string }

// Build returns an immutable Picker over this list of servers.
func (b *preferTag) Build(servers []lb.Server) lb.Picker {
	return preferPicker{servers: servers, tag: b.tag}
}

// Feedback is ignored: preferTag does not learn from the calls.
func (*preferTag) Feedback(lb.Feedback) {}

// Name names the policy in the channel's inspection and in errors.
func (*preferTag) Name() string { return "prefer_tag" }

type preferPicker struct {
	servers []lb.Server
	tag     string
}

func (p preferPicker) Pick(r *lb.Request) (int, error) {
	if len(p.servers) == 0 {
		return -1, wire.Errorf(wire.ENODATA, "no server listed")
	}
	other := -1
	for i, s := range p.servers {
		tried := slices.ContainsFunc(r.Excluded, func(n lb.ServerNode) bool { return n.Addr == s.Addr })
		switch {
		case s.Down || tried:
		case s.Tag == p.tag:
			return i, nil
		case other < 0:
			other = i
		}
	}
	if other < 0 {
		return -1, wire.Errorf(wire.EHOSTDOWN, "no usable server")
	}
	return other, nil
}

func ExampleChannelOptions_balancer() {
	stableAddr, stopStable := exampleServer(0)
	defer stopStable()
	canaryAddr, stopCanary := exampleServer(0)
	names := map[string]string{stableAddr: "stable", canaryAddr: "canary"}

	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	ch, err := sys.NewChannel("list://"+stableAddr+","+canaryAddr+" canary", &actors.ChannelOptions{
		Balancer: &preferTag{tag: "canary"}, // a value of its own for each channel
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	call := func() {
		var cntl actors.Controller
		err := ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")},
			&echopb.EchoResponse{}, &cntl)
		fmt.Println(names[cntl.RemoteSide()], err)
	}
	call()
	call()
	stopCanary() // the next call fails over to the stable server
	call()
	call()
	// Output:
	// canary <nil>
	// canary <nil>
	// stable <nil>
	// stable <nil>
}
