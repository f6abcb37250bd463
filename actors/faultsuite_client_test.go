package actors_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/internal/faultproxy"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// clientFault is a case of the client side of the fault suite: a troupe channel calls through a
// fault. run makes the channel, injects the fault and returns the error the faulted call ended
// with, and the channel a good call goes through once the fault is healed (nil: a fresh channel
// to the troupe server). Single-failure cases use NoRetry, so that the code is the fault's own
// and not what retrying an isolated server ends with.
type clientFault struct {
	name  string
	fault string
	want  wire.Errno
	svc   *echoservice.Service
	run   func(t *testing.T, e *faultEnv) (actors.Channel, error)
}

var noRetry = actors.ChannelOptions{MaxRetry: actors.NoRetry}

// viaFake runs one call, without retries, against the fake server answering with answer.
func viaFake(answer func(*wire.Frame) faultproxy.Reply) func(*testing.T, *faultEnv) (actors.Channel, error) {
	return func(t *testing.T, e *faultEnv) (actors.Channel, error) {
		e.fakeAnswers(answer)
		ch := e.channel(e.fake.Addr(), noRetry)
		return ch, e.call(ch, nil, nil, nil)
	}
}

// viaProxy runs one call, without retries and with timeout (0: the suite's), through the proxy
// after fault set its faults.
func viaProxy(timeout time.Duration, fault func(*faultproxy.Proxy)) func(*testing.T, *faultEnv) (actors.Channel, error) {
	return func(t *testing.T, e *faultEnv) (actors.Channel, error) {
		opts := noRetry
		opts.Timeout = timeout
		opts.ConnectTimeout = 5 * time.Second // a starved dialler must not fail the call before its fault
		ch := e.channel(e.proxy.Addr(), opts)
		fault(e.proxy)
		return ch, e.call(ch, nil, nil, nil)
	}
}

// goodAnswerBytes is a valid response frame to f with the message "fake".
func goodAnswerBytes(f *wire.Frame) []byte { return goodAnswer(f).Bytes }

func clientFaults() []clientFault {
	return []clientFault{
		{name: "connect refused", fault: "nothing listens", want: wire.ECONNREFUSED,
			run: func(t *testing.T, e *faultEnv) (actors.Channel, error) {
				opts := noRetry // a refusal is at once, but a starved dialler must not time out first
				opts.ConnectTimeout, opts.Timeout = 5*time.Second, 10*time.Second
				return nil, e.call(e.channel(actorstest.DeadAddr(t), opts), nil, nil, nil)
			}},
		{name: "connect timeout", fault: "accept queue full (ListenFull)", want: wire.ETIMEDOUT,
			run: connectTimeout},
		{name: "server closes before answering", fault: "fake server closes on request", want: wire.EEOF,
			run: viaFake(func(*wire.Frame) faultproxy.Reply { return faultproxy.Reply{Close: true} })},
		{name: "server closes mid-frame", fault: "fake server sends 15 bytes of an answer, closes", want: wire.EEOF,
			run: viaFake(func(f *wire.Frame) faultproxy.Reply {
				return faultproxy.Reply{Bytes: faultproxy.Truncated(goodAnswerBytes(f), 15), Close: true}
			})},
		{name: "bad magic", fault: `answer starts "HTTP"`, want: wire.EFAILEDSOCKET,
			run: viaFake(func(f *wire.Frame) faultproxy.Reply {
				return faultproxy.Answer(faultproxy.BadMagic(f.Meta.CorrelationID))
			})},
		{name: "garbage meta", fault: "answer meta is not protobuf", want: wire.EFAILEDSOCKET,
			run: viaFake(func(*wire.Frame) faultproxy.Reply { return faultproxy.Answer(faultproxy.GarbageMeta()) })},
		{name: "oversized answer", fault: "answer header declares 1 GiB", want: wire.EFAILEDSOCKET,
			run: viaFake(func(*wire.Frame) faultproxy.Reply { return faultproxy.Answer(faultproxy.OversizedHeader(1 << 30)) })},
		{name: "request frame as answer", fault: "answer is a request-type frame", want: wire.EFAILEDSOCKET,
			run: viaFake(func(f *wire.Frame) faultproxy.Reply {
				return faultproxy.Answer(faultproxy.Request(f.Meta.CorrelationID, echoservice.Method, f.Payload))
			})},
		{name: "unparsable payload", fault: "answer payload is not an EchoResponse", want: wire.ERESPONSE,
			run: viaFake(func(f *wire.Frame) faultproxy.Reply {
				return faultproxy.Answer(faultproxy.Response(f.Meta.CorrelationID, []byte{0xff, 0xff, 0xff}, nil))
			})},
		{name: "checksum mismatch", fault: "answer CRC32C does not match", want: wire.ERESPONSE,
			run: viaFake(func(f *wire.Frame) faultproxy.Reply {
				m := wire.Meta{IsResponse: true, CorrelationID: f.Meta.CorrelationID, ChecksumType: wire.ChecksumCRC32C}
				b := wire.AppendFrame(nil, &m, []byte{0x0a, 0x01, 'x'}, nil)
				b[len(b)-1] = 'y'
				return faultproxy.Answer(b)
			})},
		{name: "server error answer", fault: "answer carries EINTERNAL", want: wire.EINTERNAL,
			run: viaFake(func(f *wire.Frame) faultproxy.Reply {
				return faultproxy.Answer(faultproxy.ErrorResponse(f.Meta.CorrelationID, wire.EINTERNAL, "boom"))
			})},
		{name: "answer to another call", fault: "answer has a wrong correlation id", want: wire.ERPCTIMEDOUT,
			run: func(t *testing.T, e *faultEnv) (actors.Channel, error) {
				e.fakeAnswers(func(f *wire.Frame) faultproxy.Reply {
					return faultproxy.Answer(faultproxy.Response(f.Meta.CorrelationID+1000, nil, nil))
				})
				ch := e.channel(e.fake.Addr(), actors.ChannelOptions{MaxRetry: actors.NoRetry, Timeout: 300 * time.Millisecond})
				return ch, e.call(ch, nil, nil, nil)
			}},
		{name: "server resets", fault: "fake server resets on request", want: wire.ECONNRESET,
			run: viaFake(func(*wire.Frame) faultproxy.Reply { return faultproxy.Reply{Reset: true} })},
		{name: "reset in the network", fault: "proxy resets on request (Reset up)", want: wire.ECONNRESET,
			run: viaProxy(0, func(p *faultproxy.Proxy) { p.Reset(faultproxy.Up) })},
		{name: "cut mid-request", fault: "proxy closes after 10 request bytes", want: wire.EEOF,
			run: viaProxy(0, func(p *faultproxy.Proxy) { p.CutAfter(faultproxy.Up, 10) })},
		{name: "cut mid-answer", fault: "proxy closes after 20 answer bytes", want: wire.EEOF,
			run: viaProxy(0, func(p *faultproxy.Proxy) { p.CutAfter(faultproxy.Down, 20) })},
		{name: "corrupted answer header", fault: "proxy flips answer byte 0", want: wire.EFAILEDSOCKET,
			run: viaProxy(0, func(p *faultproxy.Proxy) { p.CorruptAt(faultproxy.Down, 0) })},
		{name: "payload corrupted in transit", fault: "proxy flips the last byte of an answer", want: wire.ERESPONSE,
			run: corruptedInTransit},
		{name: "stall beyond the timeout", fault: "proxy holds the answer", want: wire.ERPCTIMEDOUT,
			run: viaProxy(300*time.Millisecond, func(p *faultproxy.Proxy) { p.Stall(faultproxy.Down) })},
		{name: "blackhole", fault: "proxy swallows the request", want: wire.ERPCTIMEDOUT,
			run: viaProxy(300*time.Millisecond, func(p *faultproxy.Proxy) { p.Blackhole(faultproxy.Up) })},
		{name: "delay within the timeout", fault: "proxy delays answers 100 ms, timeout 5 s", want: 0,
			run: viaProxy(5*time.Second, func(p *faultproxy.Proxy) { p.Delay(faultproxy.Down, 100*time.Millisecond) })},
		{name: "delay over the timeout", fault: "proxy delays answers 3 s, timeout 300 ms", want: wire.ERPCTIMEDOUT,
			run: viaProxy(300*time.Millisecond, func(p *faultproxy.Proxy) { p.Delay(faultproxy.Down, 3*time.Second) })},
		{name: "throttle", fault: "proxy passes 256 KiB/s, 64 KiB answer", want: 0, run: throttled},
		{name: "cancel during a stall", fault: "proxy holds the answer, caller cancels", want: wire.ECANCELED,
			run: cancelDuringStall},
		{name: "server down then up", fault: "nothing listens, then a server starts", want: wire.ECONNREFUSED,
			run: downThenUp},
		{name: "call while the server is isolated", fault: "second call to a refused server", want: wire.EHOSTDOWN,
			run: whileIsolated},
		{name: "dead server in a cluster", fault: "rr over a dead and a live server", want: 0, run: deadInCluster},
		{name: "backup request over a delayed server", fault: "one of two servers delayed 5 s, backup after 50 ms",
			want: 0, run: backupOverDelay},
		{name: "breaker trips", fault: "fake server fails every call with EINTERNAL", want: wire.EINTERNAL,
			run: breakerTrips},
	}
}

func TestFaultSuiteClient(t *testing.T) {
	for _, tc := range append(clientFaults(), clientLimitFaults()...) {
		t.Run(tc.name, func(t *testing.T) {
			e := newFaultEnv(t, tc.svc)
			ch, err := tc.run(t, e)
			checkCode(t, tc.name, err, tc.want)
			e.checkFinished()
			e.heal()
			if ch != nil {
				e.checkServes(ch)
			}
			e.checkServerServes()
			e.checkFinished()
		})
	}
}

func connectTimeout(t *testing.T, e *faultEnv) (actors.Channel, error) {
	fl, err := faultproxy.ListenFull()
	if err != nil {
		t.Skipf("ListenFull: %v", err)
	}
	t.Cleanup(func() { fl.Close() })
	opts := noRetry
	opts.ConnectTimeout = 100 * time.Millisecond
	return nil, e.call(e.channel(fl.Addr(), opts), nil, nil, nil)
}

func throttled(t *testing.T, e *faultEnv) (actors.Channel, error) {
	ch := e.channel(e.proxy.Addr(), actors.ChannelOptions{MaxRetry: actors.NoRetry, Timeout: 10 * time.Second})
	e.proxy.Throttle(faultproxy.Down, 256<<10)
	var cntl actors.Controller
	cntl.SetRequestAttachment(make([]byte, 64<<10))
	err := e.call(ch, nil, nil, &cntl)
	if got := len(cntl.ResponseAttachment()); err == nil && got != 64<<10 {
		t.Fatalf("a %d-byte attachment came back, want %d", got, 64<<10)
	}
	if b := e.proxy.Stats().Bytes[faultproxy.Down]; err == nil && b < 64<<10 {
		t.Fatalf("the proxy passed %d bytes down, want the whole answer", b)
	}
	return ch, err
}

func cancelDuringStall(t *testing.T, e *faultEnv) (actors.Channel, error) {
	ch := e.channel(e.proxy.Addr(), actors.ChannelOptions{MaxRetry: actors.NoRetry, Timeout: actors.NoTimeout})
	e.proxy.Stall(faultproxy.Down)
	call := e.goCall(context.Background(), ch, nil, nil, nil)
	waitPending(t, e.sys, e.proxy.Addr(), 1)
	call.Cancel()
	return ch, waitDone(t, call)
}

// downThenUp calls a server while it is not there, then starts it on the same address: health
// checking finds it and the channel serves again.
func downThenUp(t *testing.T, e *faultEnv) (actors.Channel, error) {
	addr := actorstest.DeadAddr(t)
	ch := e.channel(addr, noRetry)
	err := e.call(ch, nil, nil, nil)
	eventually(t, "the socket to be isolated", func() bool {
		s := socketNode(e.sys, addr)
		return s != nil && strings.Contains(s.State, "isolated")
	})
	srv, err2 := actors.NewServer(nil)
	if err2 != nil {
		t.Fatal(err2)
	}
	if err2 := (&echoservice.Service{}).Register(srv); err2 != nil {
		t.Fatal(err2)
	}
	if _, err2 := srv.Listen(addr); err2 != nil {
		t.Skipf("the address was taken meanwhile: %v", err2)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	eventually(t, "health checking to revive the socket", func() bool {
		s := socketNode(e.sys, addr)
		return s != nil && !strings.Contains(s.State, "isolated") && s.Counters["health_checks"] > 0
	})
	return ch, err
}

func whileIsolated(t *testing.T, e *faultEnv) (actors.Channel, error) {
	addr := actorstest.DeadAddr(t)
	ch := e.channel(addr, actors.ChannelOptions{MaxRetry: actors.NoRetry, HealthCheckInterval: time.Hour})
	checkCode(t, "first call", e.call(ch, nil, nil, nil), wire.ECONNREFUSED)
	eventually(t, "the socket to be isolated", func() bool {
		s := socketNode(e.sys, addr)
		return s != nil && strings.Contains(s.State, "isolated")
	})
	return nil, e.call(ch, nil, nil, nil)
}

func deadInCluster(t *testing.T, e *faultEnv) (actors.Channel, error) {
	ch := e.channel("list://"+actorstest.DeadAddr(t)+","+e.addr, actors.ChannelOptions{LoadBalancer: "rr"})
	for i := range 10 {
		if err := e.call(ch, nil, nil, nil); err != nil {
			t.Fatalf("call %d over a cluster with one dead server = %v, want success", i, err)
		}
	}
	return ch, nil
}

func backupOverDelay(t *testing.T, e *faultEnv) (actors.Channel, error) {
	_, fast := startEcho(t, &echoservice.Service{Index: 1})
	ch := e.channel("list://"+e.proxy.Addr()+","+fast, actors.ChannelOptions{LoadBalancer: "rr",
		Timeout: 20 * time.Second, BackupRequest: 50 * time.Millisecond})
	e.proxy.Delay(faultproxy.Down, 5*time.Second)
	backups := 0
	for i := range 4 {
		var cntl actors.Controller
		resp := &echopb.EchoResponse{}
		if err := e.call(ch, nil, resp, &cntl); err != nil {
			return ch, err
		}
		if resp.GetServerIndex() != 1 {
			t.Fatalf("call %d answered by server %d, want the fast one", i, resp.GetServerIndex())
		}
		if cntl.HasBackupRequest() {
			backups++
		}
	}
	if backups == 0 {
		t.Fatal("no call sent a backup request, though rr sent some to the delayed server")
	}
	return ch, nil
}

// breakerTrips fails calls on one server until the circuit breaker isolates it.
func breakerTrips(t *testing.T, e *faultEnv) (actors.Channel, error) {
	e.fakeAnswers(func(f *wire.Frame) faultproxy.Reply {
		return faultproxy.Answer(faultproxy.ErrorResponse(f.Meta.CorrelationID, wire.EINTERNAL, "failing"))
	})
	ch := e.channel(e.fake.Addr(), actors.ChannelOptions{MaxRetry: actors.NoRetry, EnableCircuitBreaker: true})
	var err error
	for i := 0; ; i++ {
		if s := socketNode(e.sys, e.fake.Addr()); s != nil && s.Counters["breaker_trips"] > 0 {
			break
		}
		if i == 2000 {
			t.Fatalf("the breaker did not trip after %d failed calls", i)
		}
		if cerr := e.call(ch, nil, nil, nil); wire.ErrnoOf(cerr) == wire.EINTERNAL || err == nil {
			err = cerr
		}
	}
	return ch, err
}

// corruptedInTransit measures an answer with a good call, then has the proxy flip the last byte
// of the next, identical answer: the end of the EchoResponse, whose last varint no longer ends.
func corruptedInTransit(t *testing.T, e *faultEnv) (actors.Channel, error) {
	ch := e.channel(e.proxy.Addr(), noRetry)
	if err := e.call(ch, nil, nil, nil); err != nil {
		t.Fatalf("the measuring call = %v", err)
	}
	size := e.proxy.Stats().Bytes[faultproxy.Down]
	e.proxy.CorruptAt(faultproxy.Down, 2*size-1)
	return ch, e.call(ch, nil, nil, nil)
}
