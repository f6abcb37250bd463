package echopbtroupe_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServer serves svc, registered with the generated RegisterEchoServiceServer, on a free
// loopback port until the test ends, and returns its address.
func startServer(t *testing.T, svc *echoservice.Service) string {
	t.Helper()
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := echopbtroupe.RegisterEchoServiceServer(srv, svc); err != nil {
		t.Fatalf("RegisterEchoServiceServer() = %v", err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), actorstest.Timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	return addr.String()
}

func newChannel(t *testing.T, sys *actors.System, addr string) *actors.PlainChannel {
	t.Helper()
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: actorstest.Timeout})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// checkClient makes a synchronous and an asynchronous call with client and checks their
// answers; want is the server_index of the answers.
func checkClient(t *testing.T, client *echopbtroupe.EchoServiceClient, want int32) {
	t.Helper()
	ctx := context.Background()
	resp, err := client.Echo(ctx, actorstest.EchoRequest("sync"), nil)
	if err != nil || resp.GetMessage() != "sync" || resp.GetServerIndex() != want {
		t.Fatalf("Echo(sync) = %v, %v, want message sync from server %d", resp, err, want)
	}

	var dones atomic.Int32
	ended := make(chan *actors.Controller, 1)
	async := &echopb.EchoResponse{}
	call := client.GoEcho(ctx, actorstest.EchoRequest("async"), async, nil, func(c *actors.Controller) {
		dones.Add(1)
		ended <- c
	})
	if err := call.Wait(); err != nil {
		t.Fatalf("GoEcho(async).Wait() = %v, want nil", err)
	}
	if c := <-ended; c.Failed() {
		t.Errorf("GoEcho(async): done got a failed Controller: %v", c.Err())
	}
	if async.GetMessage() != "async" || async.GetServerIndex() != want {
		t.Errorf("GoEcho(async) answered %v, want message async from server %d", async, want)
	}
	if n := dones.Load(); n != 1 {
		t.Errorf("GoEcho(async): done ran %d times, want 1", n)
	}
}

func TestPlainChannel(t *testing.T) {
	addr := startServer(t, &echoservice.Service{Index: 7})
	sys := actorstest.NewSystem(t)
	ch := newChannel(t, sys, addr)
	defer ch.Close()
	checkClient(t, echopbtroupe.NewEchoServiceClient(ch), 7)
}

// TestParallelChannel calls two servers at once through a ParallelChannel whose sub-channels
// answer the same message; the default merger keeps the last server_index.
func TestParallelChannel(t *testing.T) {
	sys := actorstest.NewSystem(t)
	p, err := combo.NewParallelChannel(sys, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for range 2 {
		ch := newChannel(t, sys, startServer(t, &echoservice.Service{Index: 3}))
		if err := p.AddChannel(ch, combo.OwnsChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	client := echopbtroupe.NewEchoServiceClient(p)
	checkClient(t, client, 3)

	var cntl actors.Controller
	if _, err := client.Echo(context.Background(), actorstest.EchoRequest("fan out"), &cntl); err != nil {
		t.Fatalf("Echo(fan out) = %v", err)
	}
	if n := cntl.SubCount(); n != 2 {
		t.Errorf("Echo(fan out) through a ParallelChannel of 2: SubCount() = %d, want 2", n)
	}
}

func TestSelectiveChannel(t *testing.T) {
	sys := actorstest.NewSystem(t)
	s, err := combo.NewSelectiveChannel(sys, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AddChannel(newChannel(t, sys, startServer(t, &echoservice.Service{Index: 5})), combo.OwnsChannel); err != nil {
		t.Fatal(err)
	}
	checkClient(t, echopbtroupe.NewEchoServiceClient(s), 5)
}

// TestServerError checks that an error code the service fails with reaches the generated
// client's caller, usable with errors.Is and errors.As.
func TestServerError(t *testing.T) {
	addr := startServer(t, &echoservice.Service{})
	sys := actorstest.NewSystem(t)
	ch := newChannel(t, sys, addr)
	defer ch.Close()
	client := echopbtroupe.NewEchoServiceClient(ch)
	req := &echopb.EchoRequest{Message: proto.String("fail"), FailCode: proto.Int32(int32(wire.EREQUEST))}
	resp, err := client.Echo(context.Background(), req, nil)
	var we *wire.Error
	if resp != nil || !errors.Is(err, wire.EREQUEST) || !errors.As(err, &we) {
		t.Fatalf("Echo(fail_code=EREQUEST) = %v, %v, want nil and a *wire.Error EREQUEST", resp, err)
	}
	if we.Method != echopbtroupe.EchoService_Echo_FullMethodName {
		t.Errorf("Echo(fail_code=EREQUEST): error's Method = %q, want %q", we.Method, echopbtroupe.EchoService_Echo_FullMethodName)
	}
}

// TestNoChannel checks that a client without a channel fails its calls with EINVAL, the async
// one running done exactly once, rather than panicking.
func TestNoChannel(t *testing.T) {
	for name, client := range map[string]*echopbtroupe.EchoServiceClient{
		"nil channel": echopbtroupe.NewEchoServiceClient(nil),
		"zero value":  {},
		"nil client":  nil,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := client.Echo(context.Background(), actorstest.EchoRequest("x"), nil); !errors.Is(err, wire.EINVAL) {
				t.Errorf("Echo() = %v, want EINVAL", err)
			}
			var dones atomic.Int32
			call := client.GoEcho(context.Background(), actorstest.EchoRequest("x"), &echopb.EchoResponse{}, nil,
				func(*actors.Controller) { dones.Add(1) })
			if err := call.Wait(); !errors.Is(err, wire.EINVAL) {
				t.Errorf("GoEcho().Wait() = %v, want EINVAL", err)
			}
			if n := dones.Load(); n != 1 {
				t.Errorf("GoEcho(): done ran %d times, want 1", n)
			}
		})
	}
}

// TestNilResponse checks that GoEcho with a nil resp fails the call instead of panicking.
func TestNilResponse(t *testing.T) {
	addr := startServer(t, &echoservice.Service{})
	sys := actorstest.NewSystem(t)
	ch := newChannel(t, sys, addr)
	defer ch.Close()
	call := echopbtroupe.NewEchoServiceClient(ch).GoEcho(context.Background(), actorstest.EchoRequest("x"), nil, nil, nil)
	if err := call.Wait(); err == nil || !strings.Contains(err.Error(), "response is nil") {
		t.Errorf("GoEcho(resp=nil).Wait() = %v, want an error saying the response is nil", err)
	}
}

func TestRegisterErrors(t *testing.T) {
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Shutdown(context.Background()) }()
	if err := echopbtroupe.RegisterEchoServiceServer(srv, nil); !errors.Is(err, wire.EINVAL) || !strings.Contains(err.Error(), "impl is nil") {
		t.Errorf("RegisterEchoServiceServer(srv, nil) = %v, want EINVAL saying impl is nil", err)
	}
	if err := echopbtroupe.RegisterEchoServiceServer(nil, &echoservice.Service{}); !errors.Is(err, wire.EINVAL) || !strings.Contains(err.Error(), "srv is nil") {
		t.Errorf("RegisterEchoServiceServer(nil, impl) = %v, want EINVAL saying srv is nil", err)
	}
	if err := echopbtroupe.RegisterEchoServiceServer(srv, &echoservice.Service{}); err != nil {
		t.Fatalf("RegisterEchoServiceServer() = %v", err)
	}
	if err := echopbtroupe.RegisterEchoServiceServer(srv, &echoservice.Service{}); err == nil || !strings.Contains(err.Error(), "registered twice") {
		t.Errorf("RegisterEchoServiceServer() a second time = %v, want an error saying registered twice", err)
	}
}
