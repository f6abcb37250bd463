package combo_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// exampleServers starts n echo servers, server i answering with server_index i and echoing the
// request attachment, and returns their addresses and a function that stops them.
func exampleServers(n int) ([]string, func()) {
	var addrs []string
	var servers []*actors.Server
	for i := range n {
		srv, _ := actors.NewServer(nil)
		_ = (&echoservice.Service{Index: int32(i), EchoAttachment: true}).Register(srv)
		addr, _ := srv.Listen("127.0.0.1:0")
		addrs = append(addrs, addr.String())
		servers = append(servers, srv)
	}
	return addrs, func() {
		for _, s := range servers {
			_ = s.Shutdown(context.Background())
		}
	}
}

func ExampleParallelChannel() {
	addrs, stop := exampleServers(3)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()

	p, _ := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: 5 * time.Second})
	for _, a := range addrs {
		ch, _ := sys.NewChannel(a, nil)
		_ = p.AddChannel(ch, combo.OwnsChannel, nil, nil) // broadcast; answers merged with proto.Merge
	}
	defer p.Close()

	var cntl actors.Controller
	resp := &echopb.EchoResponse{}
	err := p.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")}, resp, &cntl)
	fmt.Println(err, cntl.SubCount())
	for i := range cntl.SubCount() {
		fmt.Println(i, cntl.Sub(i).RemoteSide() == addrs[i])
	}
	// Output:
	// <nil> 3
	// 0 true
	// 1 true
	// 2 true
}

func ExampleSelectiveChannel() {
	addrs, stop := exampleServers(2)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()

	s, _ := combo.NewSelectiveChannel(sys, &combo.SelectiveOptions{LoadBalancer: "rr", MaxRetry: 1, Timeout: 5 * time.Second})
	for _, a := range addrs {
		ch, _ := sys.NewChannel(a, nil)
		_, _ = s.AddChannel(ch, combo.OwnsChannel)
	}
	defer s.Close()

	seen := map[int32]bool{}
	for range 4 {
		resp := &echopb.EchoResponse{}
		_ = s.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")}, resp, nil)
		seen[resp.GetServerIndex()] = true
	}
	fmt.Println(len(seen), "sub-channels answered")
	// Output: 2 sub-channels answered
}

func ExamplePartitionChannel() {
	addrs, stop := exampleServers(3)
	defer stop()
	dir, _ := os.MkdirTemp("", "partitions")
	defer os.RemoveAll(dir)
	list := filepath.Join(dir, "servers")
	_ = os.WriteFile(list, []byte(addrs[0]+" 0/3\n"+addrs[1]+" 1/3\n"+addrs[2]+" 2/3\n"), 0o644)

	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	pc, _ := combo.NewPartitionChannel(sys, 3, combo.SlashParser{}, "file://"+list,
		&combo.PartitionOptions{Timeout: 5 * time.Second})
	defer pc.Close()

	var cntl actors.Controller
	err := pc.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")},
		&echopb.EchoResponse{}, &cntl)
	fmt.Println(err, pc.PartitionCount(), cntl.SubCount())
	// Output: <nil> 3 3
}

// A CallMapper gives each sub-call Controller settings of its own: here a log id and an
// attachment per sub-call, which the echo servers send back.
func ExampleSubCall_mapController() {
	addrs, stop := exampleServers(2)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()

	mapper := combo.CallMapperFunc(func(i, n int, method string, req, resp proto.Message) combo.SubCall {
		return combo.SubCall{Method: method, Request: req, Response: &echopb.EchoResponse{},
			MapController: func(main, sub *actors.Controller) {
				id, _ := main.LogID()
				sub.SetLogID(id + int64(i)) // sub-call i's own log id
				sub.SetRequestAttachment(fmt.Appendf(nil, "part %d of %d", i+1, n))
			}}
	})
	p, _ := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: 5 * time.Second})
	for _, a := range addrs {
		ch, _ := sys.NewChannel(a, nil)
		_ = p.AddChannel(ch, combo.OwnsChannel, mapper, nil)
	}
	defer p.Close()

	var cntl actors.Controller
	cntl.SetLogID(1000)
	err := p.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")}, &echopb.EchoResponse{}, &cntl)
	fmt.Println(err)
	for i := range cntl.SubCount() {
		id, _ := cntl.Sub(i).LogID()
		fmt.Printf("%d: log id %d, answer attachment %q\n", i, id, cntl.Sub(i).ResponseAttachment())
	}
	// Output:
	// <nil>
	// 0: log id 1000, answer attachment "part 1 of 2"
	// 1: log id 1001, answer attachment "part 2 of 2"
}
