package actors_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// slowReq asks the echo server to answer after d.
func slowReq(d time.Duration) *echopb.EchoRequest {
	return &echopb.EchoRequest{Message: proto.String("slow"), SleepUs: proto.Int32(int32(d.Microseconds()))}
}

// A server that leaves the naming service loses its socket and connection once the calls in
// flight to it have their answers; those calls succeed, and so does every call made meanwhile.
func TestSocketOfServerThatLeftRetires(t *testing.T) {
	_, addr0 := startEcho(t, &echoservice.Service{Index: 0})
	srv1, addr1 := startEcho(t, &echoservice.Service{Index: 1})
	path := filepath.Join(t.TempDir(), "servers.txt")
	writeFile(t, path, addr0, addr1)
	sys := newSystem(t)
	ch, err := sys.NewChannel("file://"+path, &actors.ChannelOptions{LoadBalancer: "rr", Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	// rr sends every other call to server 1: four slow calls put two in flight there.
	slow := make([]*actors.Call, 4)
	for i := range slow {
		slow[i] = ch.Go(context.Background(), echoservice.Method, slowReq(300*time.Millisecond), &echopb.EchoResponse{}, nil, nil)
	}
	eventually(t, "a connection to server 1", func() bool { return srv1.Connections() == 1 })
	writeFile(t, path, addr0)
	eventually(t, "the list without server 1", func() bool { return ch.Weight() == 1 })
	for i := range 20 {
		if err := ch.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("call %d after server 1 left: %v", i, err)
		}
	}
	actors.Join(slow...)
	for i, c := range slow {
		if err := c.Err(); err != nil {
			t.Errorf("slow call %d, in flight when its server left: %v", i, err)
		}
	}
	eventually(t, "server 1's socket to retire", func() bool { return socketNode(sys, addr1) == nil })
	eventually(t, "server 1's connection to close", func() bool { return srv1.Connections() == 0 })
	if socketNode(sys, addr0) == nil {
		t.Error("server 0's socket is gone although the channel still uses it")
	}
}

// A socket lives while a channel uses it: closing one of two channels to a server keeps it, and
// closing the last retires it once its last call has its answer. A new channel to that server
// meanwhile gets a socket of its own.
func TestClosedChannelsReleaseTheirSocket(t *testing.T) {
	srv, addr := startEcho(t, &echoservice.Service{})
	sys := newSystem(t)
	opts := &actors.ChannelOptions{Timeout: testTimeout}
	a, err := sys.NewChannel(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sys.NewChannel(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []*actors.PlainChannel{a, b} {
		if err := ch.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	if err := b.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("call on the channel left open: %v", err)
	}
	if socketNode(sys, addr) == nil || srv.Connections() != 1 {
		t.Fatalf("socket %v, %d connections after closing one of two channels, want it kept with 1", socketNode(sys, addr), srv.Connections())
	}
	slow := b.Go(context.Background(), echoservice.Method, slowReq(300*time.Millisecond), &echopb.EchoResponse{}, nil, nil)
	b.Close()
	c, err := sys.NewChannel(addr, opts)
	if err != nil {
		t.Fatalf("NewChannel while the old socket retires: %v", err)
	}
	if err := c.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
		t.Fatalf("call on a new channel while the old socket retires: %v", err)
	}
	if err := slow.Wait(); err != nil {
		t.Errorf("call in flight when its channel closed: %v", err)
	}
	eventually(t, "the old socket's connection to close", func() bool { return srv.Connections() == 1 })
	c.Close()
	eventually(t, "every socket to retire", func() bool { return srv.Connections() == 0 && socketNode(sys, addr) == nil })
}

// A naming service may list one address several times (brpc's file naming does, with different
// tags): the cluster channel then holds the address's socket once, and closing the channel
// retires it.
func TestServerListedTwiceRetiresOnClose(t *testing.T) {
	srv, addr := startEcho(t, &echoservice.Service{})
	path := filepath.Join(t.TempDir(), "servers.txt")
	writeFile(t, path, addr+" 0/2", addr+" 0/3")
	sys := newSystem(t)
	ch, err := sys.NewChannel("file://"+path, &actors.ChannelOptions{LoadBalancer: "rr", Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := ch.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v, want nil", err)
		}
	}
	ch.Close()
	eventually(t, "the socket of the server listed twice to retire", func() bool {
		return srv.Connections() == 0 && socketNode(sys, addr) == nil
	})
}
