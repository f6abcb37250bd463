package actors_test

// The fault suite's cases for the server's limits: ServerOptions.MaxConnections, IdleTimeout,
// MaxUnwrittenBytes, MaxRequestMemory and MaxConnectionRequests.

import (
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/internal/faultproxy"
	"github.com/troupe-rpc/troupe/wire"
)

func serverLimitFaults() []serverFault {
	return []serverFault{
		{name: "client never reads answers", fault: "pipelined 64 KiB echoes, MaxUnwrittenBytes 256 KiB",
			want: outcome{code: wire.EOVERCROWDED},
			opts: actors.ServerOptions{MaxUnwrittenBytes: 256 << 10}, run: neverReadingClient},
		{name: "gzip bomb over the memory budget", fault: "4 MiB of zeros gzipped, MaxRequestMemory 4 MiB",
			want: outcome{code: wire.ELIMIT},
			opts: actors.ServerOptions{MaxBodySize: 4 << 20, MaxRequestMemory: 4 << 20},
			run:  func(t *testing.T, e *serverEnv) outcome { return sendAndAnswer(gzipBomb(t, 4<<20-64))(t, e) }},
		{name: "too many connections", fault: "a third connection, MaxConnections 2", want: closedConn,
			opts: actors.ServerOptions{MaxConnections: 2}, run: tooManyConnections},
		{name: "idle connection closed", fault: "no request for 200 ms, IdleTimeout 200 ms", want: closedConn,
			opts: actors.ServerOptions{IdleTimeout: 200 * time.Millisecond},
			run:  func(t *testing.T, e *serverEnv) outcome { return closed(t, e.dial()) }},
		{name: "slowloris half frame", fault: "half a request, then silence, IdleTimeout 200 ms", want: closedConn,
			opts: actors.ServerOptions{IdleTimeout: 200 * time.Millisecond},
			run:  sendAndClosed(faultproxy.Truncated(echoFrame(1, "slow"), 20))},
		{name: "pipelined slow requests, per-connection bound", fault: "2 slow then 1 quick request, MaxConnectionRequests 2",
			want: outcome{}, opts: actors.ServerOptions{MaxConnectionRequests: 2},
			run: connectionRequestBound},
	}
}

func TestFaultSuiteServerLimits(t *testing.T) {
	for _, tc := range serverLimitFaults() {
		t.Run(tc.name, func(t *testing.T) {
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

// neverReadingClient pipelines echo requests with 64 KiB attachments and reads nothing until its
// writes stall: the server stops reading instead of buffering answers without bound. Then it
// reads every answer: each request is answered once, some with EOVERCROWDED.
// writeWhileRead writes b to conn and reports whether all of it went out. It gives up, reporting
// false, only once two seconds pass without a byte taken: a server that reads slowly (a loaded
// machine, the race detector) is still reading, one that took nothing for that long stopped.
func writeWhileRead(t *testing.T, conn net.Conn, b []byte) bool {
	t.Helper()
	for len(b) > 0 {
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		n, err := conn.Write(b)
		b = b[n:]
		if err != nil {
			if !isNetTimeout(err) {
				t.Fatalf("writing a request: %v", err)
			}
			if n == 0 {
				return false
			}
		}
	}
	return true
}

// neverReadingClient pipelines 64 KiB echoes and reads no answer until the server stops reading
// its requests; then it reads every answer the server sent, each a success or EOVERCROWDED.
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
		if !writeWhileRead(t, c.Conn(), frame) {
			break // the server stopped reading; this frame went out in part, if at all
		}
		written = id
	}
	// The server stopped reading: its connection is overcrowded. Whether some answers were
	// replaced by EOVERCROWDED frames depends on how many requests were in handlers when the
	// bound was reached (none, when every request ran in place before the next read), so the
	// answers may be all successes.
	o := outcome{code: wire.EOVERCROWDED}
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
		case 0, wire.EOVERCROWDED:
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
