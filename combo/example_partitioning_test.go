package combo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// wordsMethod splits an echo request "a b c" into one sub-request per word, joins the words
// bound for one partition, and joins the partitions' answers; its functions take the echo
// method's own types.
func wordsMethod() combo.PartitionedMethod {
	return combo.TypedPartitionedMethod[*echopb.EchoRequest, *echopb.EchoResponse]{
		Split: func(req *echopb.EchoRequest) (map[string]*echopb.EchoRequest, error) {
			out := map[string]*echopb.EchoRequest{}
			for _, w := range strings.Fields(req.GetMessage()) {
				out[w] = &echopb.EchoRequest{Message: proto.String(w)}
			}
			return out, nil
		},
		MergeRequests: func(reqs []*echopb.EchoRequest) (*echopb.EchoRequest, error) {
			words := make([]string, len(reqs))
			for i, r := range reqs {
				words[i] = r.GetMessage()
			}
			return &echopb.EchoRequest{Message: proto.String(strings.Join(words, " "))}, nil
		},
		MergeResponses: func(successes []*echopb.EchoResponse, failures []error) (*echopb.EchoResponse, error) {
			if len(failures) > 0 {
				return nil, failures[0]
			}
			var words []string
			for _, s := range successes {
				words = append(words, s.GetMessage())
			}
			return &echopb.EchoResponse{Message: proto.String(strings.Join(words, " "))}, nil
		},
	}.Method()
}

func ExampleHashingPartitioner() {
	addrs, stop := exampleServers(3)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	var partitions []actors.Channel
	for _, a := range addrs {
		ch, _ := sys.NewChannel(a, nil)
		defer ch.Close()
		partitions = append(partitions, ch)
	}
	h, _ := combo.NewHashingPartitioner(sys, partitions, map[string]combo.PartitionedMethod{echoservice.Method: wordsMethod()},
		&combo.HashingOptions{Timeout: 5 * time.Second})
	defer h.Close()

	resp := &echopb.EchoResponse{}
	err := h.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("a b c d e f")}, resp, nil)
	fmt.Println(err, len(strings.Fields(resp.GetMessage())), "words answered")
	p := h.PartitionOf("a")
	fmt.Println("key a is on a partition:", p >= 0 && p < 3)
	// Output:
	// <nil> 6 words answered
	// key a is on a partition: true
}

func ExampleCustomPartitioner() {
	addrs, stop := exampleServers(2)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	instances := map[int]actors.Channel{}
	for i, a := range addrs {
		ch, _ := sys.NewChannel(a, nil)
		defer ch.Close()
		instances[i] = ch
	}
	// Words before "n" are in logical partition 0, the rest in 1; instance 0 serves both.
	p, _ := combo.NewCustomPartitioner(sys, instances, map[string]combo.CustomMethod{echoservice.Method: {
		Partition: func(ctx context.Context, req proto.Message) (map[int]proto.Message, error) {
			id := 0
			if req.(*echopb.EchoRequest).GetMessage() >= "n" {
				id = 1
			}
			return map[int]proto.Message{id: req}, nil
		},
	}}, &combo.CustomOptions{Timeout: 5 * time.Second, Instances: func(shard int) []int {
		if shard == 0 {
			return []int{0, 1}
		}
		return []int{1}
	}})
	defer p.Close()

	for _, w := range []string{"apple", "pear", "plum"} {
		resp := &echopb.EchoResponse{}
		err := p.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String(w)}, resp, nil)
		fmt.Println(w, err, "served by instance", resp.GetServerIndex())
	}
	// Output:
	// apple <nil> served by instance 0
	// pear <nil> served by instance 0
	// plum <nil> served by instance 1
}

func ExampleMethodBuilder() {
	addrs, stop := exampleServers(2)
	defer stop()
	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	var partitions []actors.Channel
	for _, a := range addrs {
		ch, _ := sys.NewChannel(a, nil)
		defer ch.Close()
		partitions = append(partitions, ch)
	}
	fanOut, _ := combo.NewHashingPartitioner(sys, partitions, map[string]combo.PartitionedMethod{echoservice.Method: wordsMethod()}, nil)
	defer fanOut.Close()

	ch, err := combo.NewMethodBuilder(sys).
		Method(echoservice.Method, combo.MethodConfig{Channel: fanOut, Timeout: 5 * time.Second}).
		Build()
	fmt.Println(err)
	err = ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("x y")}, &echopb.EchoResponse{}, nil)
	fmt.Println(err)
	err = ch.Call(context.Background(), "example.EchoService.Other", &echopb.EchoRequest{}, &echopb.EchoResponse{}, nil)
	fmt.Println(wire.ErrnoOf(err), errors.Is(err, combo.ErrUnknownMethod))
	// Output:
	// <nil>
	// <nil>
	// no such method [ENOMETHOD 1002] true
}

func ExampleShards() {
	addrs, stop := exampleServers(3)
	defer stop()
	dir, _ := os.MkdirTemp("", "shards")
	defer os.RemoveAll(dir)
	list := filepath.Join(dir, "servers")
	_ = os.WriteFile(list, []byte(addrs[0]+" 0\n"+addrs[1]+" 1\n"+addrs[2]+" 2\n"), 0o644) // "address shard-id"

	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	shards, _ := combo.NewShards(sys, "file://"+list, nil)
	defer shards.Close()
	h, _ := shards.NewHashingPartitioner(map[string]combo.PartitionedMethod{echoservice.Method: wordsMethod()},
		&combo.HashingOptions{Timeout: 5 * time.Second})
	defer h.Close()

	err := h.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("a b c")}, &echopb.EchoResponse{}, nil)
	fmt.Println(err, h.Partitions())
	// Output: <nil> [0 1 2]
}
