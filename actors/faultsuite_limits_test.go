//go:build faultsuite_limits

package actors_test

// The fault suite's cases for the client and server limits (ChannelOptions.MaxBodySize and
// MaxUnwrittenBytes; ServerOptions.MaxConnections, IdleTimeout, MaxUnwrittenBytes,
// MaxRequestMemory and MaxConnectionRequests). They need those options to compile, so they build
// only with -tags faultsuite_limits.

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/internal/faultproxy"
	"github.com/troupe-rpc/troupe/wire"
)

const limitsPending = "needs the client and server limits"

func clientLimitFaults() []clientFault {
	return []clientFault{
		{name: "oversized request", fault: "8 KiB request, MaxBodySize 4 KiB", want: wire.EREQUEST,
			pending: limitsPending, run: oversizedRequest},
		{name: "never-reading server", fault: "proxy stops reading, MaxUnwrittenBytes 64 KiB", want: wire.EOVERCROWDED,
			pending: limitsPending, run: neverReadingServer},
	}
}

func serverLimitFaults() []serverFault {
	return []serverFault{
		{name: "client never reads answers", fault: "pipelined 64 KiB echoes, MaxUnwrittenBytes 256 KiB",
			want: outcome{code: wire.EOVERCROWDED}, pending: limitsPending,
			opts: actors.ServerOptions{MaxUnwrittenBytes: 256 << 10}, run: neverReadingClient},
		{name: "gzip bomb over the memory budget", fault: "4 MiB of zeros gzipped, MaxRequestMemory 4 MiB",
			want: outcome{code: wire.ELIMIT}, pending: limitsPending,
			opts: actors.ServerOptions{MaxBodySize: 4 << 20, MaxRequestMemory: 4 << 20},
			run:  func(t *testing.T, e *serverEnv) outcome { return sendAndAnswer(gzipBomb(t, 4<<20-64))(t, e) }},
		{name: "too many connections", fault: "a third connection, MaxConnections 2", want: closedConn,
			pending: limitsPending, opts: actors.ServerOptions{MaxConnections: 2}, run: tooManyConnections},
		{name: "idle connection closed", fault: "no request for 200 ms, IdleTimeout 200 ms", want: closedConn,
			pending: limitsPending, opts: actors.ServerOptions{IdleTimeout: 200 * time.Millisecond},
			run: func(t *testing.T, e *serverEnv) outcome { return closed(t, e.dial()) }},
		{name: "slowloris half frame", fault: "half a request, then silence, IdleTimeout 200 ms", want: closedConn,
			pending: limitsPending, opts: actors.ServerOptions{IdleTimeout: 200 * time.Millisecond},
			run: sendAndClosed(faultproxy.Truncated(echoFrame(1, "slow"), 20))},
		{name: "pipelined slow requests, per-connection bound", fault: "2 slow then 1 quick request, MaxConnectionRequests 2",
			want: outcome{}, pending: limitsPending, opts: actors.ServerOptions{MaxConnectionRequests: 2},
			run: connectionRequestBound},
	}
}

func TestFaultSuiteLimitsClient(t *testing.T) {
	for _, tc := range clientLimitFaults() {
		t.Run(tc.name, func(t *testing.T) {
			skipPending(t, tc.pending)
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

func TestFaultSuiteLimitsServer(t *testing.T) {
	for _, tc := range serverLimitFaults() {
		t.Run(tc.name, func(t *testing.T) {
			skipPending(t, tc.pending)
			e := newServerEnv(t, tc.opts, &echoservice.Service{EchoAttachment: true, Sleep: tc.sleep})
			if got := tc.run(t, e); got != tc.want {
				t.Fatalf("%s: %v, want %v", tc.name, got, tc.want)
			}
			e.closeClients()
			eventually(t, "the server to drop the case's connections", func() bool { return e.srv.Connections() == 0 })
			e.checkServerServes()
			e.checkFinished()
		})
	}
}

// oversizedRequest sends a request over the channel's MaxBodySize: it fails before anything
// is written.
func oversizedRequest(t *testing.T, e *faultEnv) (actors.Channel, error) {
	ch := e.channel(e.proxy.Addr(), actors.ChannelOptions{MaxBodySize: 4 << 10})
	var cntl actors.Controller
	cntl.SetRequestAttachment(make([]byte, 8<<10))
	err := e.call(ch, nil, nil, &cntl)
	if n := e.proxy.Stats().Bytes[faultproxy.Up]; n != 0 {
		t.Fatalf("%d bytes reached the proxy, want none", n)
	}
	if cntl.RetriedCount() != 0 {
		t.Fatalf("RetriedCount() = %d, want 0: EREQUEST is not retried", cntl.RetriedCount())
	}
	return ch, err
}

// neverReadingServer stalls the proxy's reading until a call fails with EOVERCROWDED, then lets
// the rest through.
func neverReadingServer(t *testing.T, e *faultEnv) (actors.Channel, error) {
	ch := e.channel(e.proxy.Addr(), actors.ChannelOptions{MaxRetry: actors.NoRetry, Timeout: 20 * time.Second,
		MaxUnwrittenBytes: 64 << 10})
	e.proxy.Stall(faultproxy.Up)
	const n = 64
	calls := make([]*actors.Call, n)
	for i := range calls {
		cntl := new(actors.Controller)
		cntl.SetRequestAttachment(make([]byte, 512<<10))
		calls[i] = e.goCall(context.Background(), ch, nil, nil, cntl)
	}
	var err error
	eventually(t, "a call to fail with EOVERCROWDED", func() bool {
		for _, c := range calls {
			select {
			case <-c.Done():
				if wire.ErrnoOf(c.Err()) == wire.EOVERCROWDED {
					err = c.Err()
					return true
				}
			default:
			}
		}
		return false
	})
	e.proxy.Clear()
	for _, c := range calls {
		if cerr := waitDone(t, c); cerr != nil && wire.ErrnoOf(cerr) != wire.EOVERCROWDED {
			t.Fatalf("a call behind a stalled server = %v, want success or EOVERCROWDED", cerr)
		}
	}
	return ch, err
}

// neverReadingClient pipelines echo requests with 64 KiB attachments and reads nothing until its
// writes stall: the server stops reading instead of buffering answers without bound. Then it
// reads every answer: each request is answered once, some with EOVERCROWDED.
func neverReadingClient(t *testing.T, e *serverEnv) outcome {
	c := e.dial()
	if tc, ok := c.Conn().(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(16 << 10)
		_ = tc.SetWriteBuffer(16 << 10)
	}
	payload, _ := proto.Marshal(echoReq("big"))
	written := int64(0)
	const maxRequests = 1000 // 64 MiB: far beyond what a bounded server and the kernel buffer
	for id := int64(1); ; id++ {
		if id > maxRequests {
			t.Fatalf("the server took %d requests of 64 KiB without their answers being read", maxRequests)
		}
		m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: id}
		frame := wire.AppendFrame(nil, &m, payload, make([]byte, 64<<10))
		_ = c.Conn().SetWriteDeadline(time.Now().Add(2 * time.Second))
		if err := c.Write(frame); err != nil {
			if !isNetTimeout(err) {
				t.Fatalf("writing request %d: %v", id, err)
			}
			break // the server stopped reading; this frame went out in part
		}
		written = id
	}
	o := outcome{}
	seen := map[int64]bool{}
	for range written {
		f, err := c.ReadFrame(testTimeout)
		if err != nil {
			t.Fatalf("after %d answers of %d: %v", len(seen), written, err)
		}
		id := f.Meta.CorrelationID
		if id < 1 || id > written || seen[id] {
			t.Fatalf("answer for %d: unknown or repeated", id)
		}
		seen[id] = true
		switch code := wire.Errno(f.Meta.ErrorCode); code {
		case 0:
		case wire.EOVERCROWDED:
			o.code = code
		default:
			t.Fatalf("answer for %d: %v, want success or EOVERCROWDED", id, code)
		}
	}
	return o
}

func tooManyConnections(t *testing.T, e *serverEnv) outcome {
	for i := range 2 {
		c := e.dial()
		write(t, c, echoFrame(int64(i+1), "held"))
		if o := answer(t, c, int64(i+1)); o != (outcome{}) {
			t.Fatalf("connection %d of 2: %v, want success", i+1, o)
		}
	}
	return closed(t, e.dial())
}

// connectionRequestBound pipelines two slow requests and a quick one on a connection allowed two
// handlers at once: the quick one is read only once a slow one returned, so it is answered last.
func connectionRequestBound(t *testing.T, e *serverEnv) outcome {
	c := e.dial()
	slow := echoReq("slow")
	slow.SleepUs = proto.Int32(300_000)
	sb, _ := proto.Marshal(slow)
	b := append(faultproxy.Request(1, echoservice.Method, sb), faultproxy.Request(2, echoservice.Method, sb)...)
	write(t, c, append(b, echoFrame(3, "quick")...))
	f, err := c.ReadFrame(testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if f.Meta.CorrelationID == 3 {
		t.Fatal("the quick request was answered before the slow ones: it was read beyond the bound")
	}
	o := outcome{code: wire.Errno(f.Meta.ErrorCode)}
	for range 2 {
		f, err := c.ReadFrame(testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if f.Meta.ErrorCode != 0 {
			o.code = wire.Errno(f.Meta.ErrorCode)
		}
	}
	return o
}
