package actors_test

// The fault suite: table-driven cases that put a troupe channel, or a troupe Server, in front of a
// misbehaving peer on loopback (a fault proxy, a fake server, a raw client) and check, for each,
// the brpc code the failure ends with, that every call finished exactly once, that nothing is
// left behind, and that the server still serves once the fault is gone.

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/internal/faultproxy"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// faultEnv is one case's world: a troupe echo server, a fault proxy in front of it, a fake server
// whose answers the case programs, and a System whose calls are counted.
type faultEnv struct {
	t     *testing.T
	sys   *actors.System
	svc   *echoservice.Service
	srv   *actors.Server
	addr  string // the troupe server
	proxy *faultproxy.Proxy
	fake  *faultproxy.FakeServer
	// answer is what the fake server does with a request; heal sets it to a good answer.
	answer atomic.Pointer[func(*wire.Frame) faultproxy.Reply]

	issued, done atomic.Int64
}

func newFaultEnv(t *testing.T, svc *echoservice.Service) *faultEnv {
	t.Helper()
	if svc == nil {
		svc = &echoservice.Service{EchoAttachment: true}
	}
	e := &faultEnv{t: t, svc: svc}
	e.srv, e.addr = startEcho(t, svc)
	p, err := faultproxy.New(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	e.proxy = p
	good := goodAnswer
	e.answer.Store(&good)
	fake, err := faultproxy.NewFakeServer(func(f *wire.Frame) faultproxy.Reply { return (*e.answer.Load())(f) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	e.fake = fake
	// Registered last, so it runs first: the System is shut down and checked before the servers go.
	e.sys = newSystem(t)
	return e
}

// goodAnswer answers an echo request as the echo service would, with the message "fake".
func goodAnswer(f *wire.Frame) faultproxy.Reply {
	b, _ := proto.Marshal(&echopb.EchoResponse{Message: proto.String("fake")})
	return faultproxy.Answer(faultproxy.Response(f.Meta.CorrelationID, b, nil))
}

// fakeAnswers makes the fake server answer with fn until heal.
func (e *faultEnv) fakeAnswers(fn func(*wire.Frame) faultproxy.Reply) { e.answer.Store(&fn) }

// heal lifts every fault of the proxy and makes the fake server answer well.
func (e *faultEnv) heal() {
	e.proxy.Clear()
	good := goodAnswer
	e.answer.Store(&good)
}

// channel makes a channel to target with the suite's defaults under opts: a 2 s timeout and a
// 20 ms health-check interval, so that a server that comes back is used again quickly.
func (e *faultEnv) channel(target string, opts actors.ChannelOptions) *actors.PlainChannel {
	e.t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.HealthCheckInterval == 0 {
		opts.HealthCheckInterval = 20 * time.Millisecond
	}
	ch, err := e.sys.NewChannel(target, &opts)
	if err != nil {
		e.t.Fatalf("NewChannel(%q) = %v", target, err)
	}
	return ch
}

// goCall starts an echo call whose done callback the environment counts.
func (e *faultEnv) goCall(ctx context.Context, ch actors.Channel, req *echopb.EchoRequest, resp *echopb.EchoResponse, cntl *actors.Controller) *actors.Call {
	if req == nil {
		req = echoReq("fault")
	}
	if resp == nil {
		resp = &echopb.EchoResponse{}
	}
	e.issued.Add(1)
	return ch.Go(ctx, echoservice.Method, req, resp, cntl, func(*actors.Controller) { e.done.Add(1) })
}

// call makes a counted call and waits for it.
func (e *faultEnv) call(ch actors.Channel, req *echopb.EchoRequest, resp *echopb.EchoResponse, cntl *actors.Controller) error {
	return waitDone(e.t, e.goCall(e.t.Context(), ch, req, resp, cntl))
}

// checkCode fails the test unless err carries code (0: no error) as a *wire.Error.
func checkCode(t *testing.T, what string, err error, code wire.Errno) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Fatalf("%s = %v, want success", what, err)
		}
		return
	}
	var we *wire.Error
	if !errors.As(err, &we) || !errors.Is(err, code) {
		t.Fatalf("%s = %v (code %d), want a *wire.Error with %v (%d)", what, err, wire.ErrnoOf(err), code, int32(code))
	}
	if we.Text == "" {
		t.Fatalf("%s = %v: the error names no problem", what, err)
	}
}

// checkFinished checks that every counted call ran its done callback exactly once and that no
// call is left in the System.
func (e *faultEnv) checkFinished() {
	e.t.Helper()
	eventually(e.t, "every done callback to run", func() bool { return e.done.Load() >= e.issued.Load() })
	if d, i := e.done.Load(), e.issued.Load(); d != i {
		e.t.Fatalf("%d done callbacks ran for %d calls", d, i)
	}
	eventually(e.t, "the finished calls to leave the System", func() bool {
		return e.sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "call" }) == nil
	})
}

// checkServes checks that a good call through ch succeeds, allowing for health checking to
// bring its server back.
func (e *faultEnv) checkServes(ch actors.Channel) {
	e.t.Helper()
	var last error
	ok := false
	eventually(e.t, "a good call to succeed after the fault", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		last = ch.Call(ctx, echoservice.Method, echoReq("after"), &echopb.EchoResponse{}, nil)
		ok = last == nil
		return ok
	})
	if !ok {
		e.t.Fatalf("good call after the fault = %v", last)
	}
}

// checkServerServes checks that the troupe server still answers a fresh channel.
func (e *faultEnv) checkServerServes() {
	e.t.Helper()
	e.checkServes(e.channel(e.addr, actors.ChannelOptions{}))
}
