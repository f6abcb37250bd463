package actors

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A method whose first handler ran longer than slowHandler is kept off the reading goroutine.
// (Whether a fast one stays on it depends on the machine's load, so it is not checked.)
func TestServerLearnsSlowMethods(t *testing.T) {
	srv, err := NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string]time.Duration{"test.Svc.Slow": 3 * slowHandler, "test.Svc.Fast": 0} {
		err := Handle(srv, name, func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
			time.Sleep(d)
			return &echopb.EchoResponse{Message: req.Message}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(addr.String(), &ChannelOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	for _, name := range []string{"test.Svc.Slow", "test.Svc.Fast"} {
		if srv.methods[name].slow() {
			t.Fatalf("%s is slow before any call", name)
		}
		if err := ch.Call(context.Background(), name, &echopb.EchoRequest{Message: proto.String("x")}, &echopb.EchoResponse{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if !srv.methods["test.Svc.Slow"].slow() {
		t.Error("a method whose handler took 3 ms is not kept off the reading goroutine")
	}
}
