package actors_test

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/internal/faultproxy"
	"github.com/troupe-rpc/troupe/wire"
)

// outcome is what a raw client saw of the server: the code of an answer (0: success), or the
// connection closed.
type outcome struct {
	code   wire.Errno
	closed bool
}

func (o outcome) String() string {
	if o.closed {
		return "connection closed"
	}
	if o.code == 0 {
		return "success"
	}
	return o.code.Error()
}

var closedConn = outcome{closed: true}

// serverFault is a case of the server side of the fault suite: a raw client abuses a troupe
// Server. run does it and returns what the client saw; the runner then checks that the server
// still serves a troupe channel and that every connection of the case is gone from it.
type serverFault struct {
	name  string
	fault string
	want  outcome
	opts  actors.ServerOptions
	sleep time.Duration // how long the echo handler takes
	run   func(t *testing.T, e *serverEnv) outcome
}

// serverEnv is a server case's world: a troupe echo server with the case's options, the raw
// clients of the case, and a System for the good call after the fault.
type serverEnv struct {
	*faultEnv
	opts    actors.ServerOptions
	clients []*faultproxy.RawClient
}

func newServerEnv(t *testing.T, opts actors.ServerOptions, svc *echoservice.Service) *serverEnv {
	t.Helper()
	srv, err := actors.NewServer(&opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Register(srv); err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	e := &serverEnv{faultEnv: &faultEnv{t: t, svc: svc, srv: srv, addr: addr.String()}, opts: opts}
	t.Cleanup(e.closeClients)
	e.sys = newSystem(t)
	return e
}

// dial connects a raw client to the server.
func (e *serverEnv) dial() *faultproxy.RawClient {
	e.t.Helper()
	c, err := faultproxy.Dial(e.addr)
	if err != nil {
		e.t.Fatal(err)
	}
	e.clients = append(e.clients, c)
	return c
}

func (e *serverEnv) closeClients() {
	for _, c := range e.clients {
		c.Close()
	}
	e.clients = nil
}

// write writes b, failing the test on error.
func write(t *testing.T, c *faultproxy.RawClient, b []byte) {
	t.Helper()
	if err := c.Write(b); err != nil {
		t.Fatalf("writing %d bytes: %v", len(b), err)
	}
}

// echoFrame is an echo request frame with correlation id id.
func echoFrame(id int64, msg string) []byte {
	b, _ := proto.Marshal(echoReq(msg))
	return faultproxy.Request(id, echoservice.Method, b)
}

// requestFrame is a request frame for method with meta m (its service and method filled in).
func requestFrame(id int64, m wire.Meta, payload []byte) []byte {
	m.Service, m.Method, m.CorrelationID = []byte("example.EchoService"), []byte("Echo"), id
	return wire.AppendFrame(nil, &m, payload, nil)
}

// answer reads the answer to request id, or notices the connection closed.
func answer(t *testing.T, c *faultproxy.RawClient, id int64) outcome {
	t.Helper()
	f, err := c.ReadFrame(testTimeout)
	if err != nil {
		if isNetTimeout(err) {
			t.Fatalf("no answer to request %d and the connection is still open", id)
		}
		return closedConn
	}
	if !f.Meta.IsResponse || f.Meta.CorrelationID != id {
		t.Fatalf("got a frame for %d (response %v), want the response to %d", f.Meta.CorrelationID, f.Meta.IsResponse, id)
	}
	return outcome{code: wire.Errno(f.Meta.ErrorCode)}
}

// closed waits for the server to close c.
func closed(t *testing.T, c *faultproxy.RawClient) outcome {
	t.Helper()
	if err := c.WaitClosed(testTimeout); err != nil {
		t.Fatalf("the server did not close the connection: %v", err)
	}
	return closedConn
}

// thenServes checks that c is still served after an answered fault, and returns o.
func thenServes(t *testing.T, c *faultproxy.RawClient, o outcome) outcome {
	t.Helper()
	write(t, c, echoFrame(99, "next"))
	if got := answer(t, c, 99); got != (outcome{}) {
		t.Fatalf("a good request after the fault on the same connection: %v, want success", got)
	}
	return o
}

// sendAndAnswer writes b, a request with id 1, and returns the answer; for a connection the
// server keeps, it checks that the connection serves a good request next.
func sendAndAnswer(b []byte) func(*testing.T, *serverEnv) outcome {
	return func(t *testing.T, e *serverEnv) outcome {
		c := e.dial()
		write(t, c, b)
		o := answer(t, c, 1)
		if o.closed {
			return o
		}
		return thenServes(t, c, o)
	}
}

// sendAndClosed writes b and waits for the server to close the connection.
func sendAndClosed(b []byte) func(*testing.T, *serverEnv) outcome {
	return func(t *testing.T, e *serverEnv) outcome {
		c := e.dial()
		write(t, c, b)
		return closed(t, c)
	}
}

// attachmentOverPayload is a request whose meta claims a larger attachment than the body holds.
func attachmentOverPayload() []byte {
	payload, _ := proto.Marshal(echoReq("x"))
	m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: 1, AttachmentSize: 1000}
	meta := wire.AppendMeta(nil, &m)
	b := []byte("PRPC")
	b = binary.BigEndian.AppendUint32(b, uint32(len(meta)+len(payload)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(meta)))
	return append(append(b, meta...), payload...)
}

// badChecksum is an echo request whose CRC32C does not match its payload.
func badChecksum() []byte {
	payload, _ := proto.Marshal(echoReq("x"))
	b := requestFrame(1, wire.Meta{ChecksumType: wire.ChecksumCRC32C}, payload)
	b[len(b)-1] ^= 0x01
	return b
}

// gzipBomb is an echo request whose gzip payload inflates to n bytes.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	msg, _ := proto.Marshal(echoReq(string(make([]byte, n))))
	z, err := wire.Compress(nil, msg, wire.CompressGzip)
	if err != nil {
		t.Fatal(err)
	}
	return requestFrame(1, wire.Meta{CompressType: wire.CompressGzip}, z)
}

func serverFaults() []serverFault {
	return []serverFault{
		{name: "garbage bytes", fault: "an HTTP request", want: closedConn,
			run: sendAndClosed([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))},
		{name: "bad magic", fault: `a frame starting "HTTP"`, want: closedConn, run: sendAndClosed(faultproxy.BadMagic(1))},
		{name: "huge declared body", fault: "header declares 2 GiB", want: closedConn,
			run: sendAndClosed(faultproxy.OversizedHeader(2 << 30))},
		{name: "body over MaxBodySize", fault: "2 MiB body, MaxBodySize 1 MiB", want: closedConn,
			opts: actors.ServerOptions{MaxBodySize: 1 << 20}, run: sendAndClosed(faultproxy.OversizedHeader(2 << 20))},
		{name: "garbage meta", fault: "meta is not protobuf", want: closedConn, run: sendAndClosed(faultproxy.GarbageMeta())},
		{name: "truncated frame then close", fault: "20 bytes of a request, then FIN", want: closedConn, run: truncatedThenClose},
		{name: "unknown service", fault: "request for nosuch.Service", want: outcome{code: wire.ENOSERVICE},
			run: sendAndAnswer(faultproxy.Request(1, "nosuch.Service.Echo", nil))},
		{name: "unknown method", fault: "request for EchoService.Nope", want: outcome{code: wire.ENOMETHOD},
			run: sendAndAnswer(faultproxy.Request(1, "example.EchoService.Nope", nil))},
		{name: "bad request protobuf", fault: "payload is not an EchoRequest", want: outcome{code: wire.EREQUEST},
			run: sendAndAnswer(faultproxy.Request(1, echoservice.Method, []byte{0xff, 0xff, 0xff}))},
		{name: "checksum mismatch", fault: "request CRC32C does not match", want: outcome{code: wire.EREQUEST},
			run: func(t *testing.T, e *serverEnv) outcome { return sendAndAnswer(badChecksum())(t, e) }},
		{name: "attachment over the payload", fault: "attachment_size 1000 in a 4-byte body", want: outcome{code: wire.EREQUEST},
			run: func(t *testing.T, e *serverEnv) outcome { return sendAndAnswer(attachmentOverPayload())(t, e) }},
		{name: "unknown compression", fault: "compress_type 99", want: outcome{code: wire.EREQUEST},
			run: sendAndAnswer(requestFrame(1, wire.Meta{CompressType: 99}, []byte("x")))},
		{name: "response frame to the server", fault: "a response frame, then a request", want: outcome{},
			run: func(t *testing.T, e *serverEnv) outcome {
				c := e.dial()
				write(t, c, append(faultproxy.Response(7, nil, nil), echoFrame(1, "after")...))
				return answer(t, c, 1)
			}},
		{name: "gzip bomb over MaxBodySize", fault: "8 MiB of zeros gzipped, MaxBodySize 1 MiB", want: outcome{code: wire.EREQUEST},
			opts: actors.ServerOptions{MaxBodySize: 1 << 20},
			run:  func(t *testing.T, e *serverEnv) outcome { return sendAndAnswer(gzipBomb(t, 8<<20))(t, e) }},
		{name: "pipelined flood on a slow handler", fault: "64 requests in one write, handler 20 ms, MaxConcurrency 4",
			want: outcome{code: wire.ELIMIT}, opts: actors.ServerOptions{MaxConcurrency: 4},
			sleep: 20 * time.Millisecond, run: pipelinedFlood},
		{name: "client reset mid-request", fault: "RST while the handler runs", want: closedConn, run: resetMidRequest},
	}
}

func TestFaultSuiteServer(t *testing.T) {
	for _, tc := range serverFaults() {
		t.Run(tc.name, func(t *testing.T) {
			e := newServerEnv(t, tc.opts, &echoservice.Service{Sleep: tc.sleep})
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

func truncatedThenClose(t *testing.T, e *serverEnv) outcome {
	c := e.dial()
	write(t, c, faultproxy.Truncated(echoFrame(1, "cut"), 20))
	eventually(t, "the server to see the connection", func() bool { return e.srv.Connections() == 1 })
	c.Close()
	eventually(t, "the server to drop the connection", func() bool { return e.srv.Connections() == 0 })
	return closedConn
}

// pipelinedFlood sends 64 requests in one write to a slow handler behind a concurrency limit:
// each gets exactly one answer, a success or ELIMIT, and some get ELIMIT.
func pipelinedFlood(t *testing.T, e *serverEnv) outcome {
	const n = 64
	c := e.dial()
	var b []byte
	for id := int64(1); id <= n; id++ {
		b = append(b, echoFrame(id, "flood")...)
	}
	write(t, c, b)
	seen := map[int64]bool{}
	limited := 0
	for range n {
		f, err := c.ReadFrame(testTimeout)
		if err != nil {
			t.Fatalf("after %d answers: %v", len(seen), err)
		}
		id, code := f.Meta.CorrelationID, wire.Errno(f.Meta.ErrorCode)
		if id < 1 || id > n || seen[id] {
			t.Fatalf("answer for %d: unknown or repeated", id)
		}
		seen[id] = true
		switch code {
		case 0:
		case wire.ELIMIT:
			limited++
		default:
			t.Fatalf("answer for %d: %v, want success or ELIMIT", id, code)
		}
	}
	if limited == 0 {
		return outcome{}
	}
	return outcome{code: wire.ELIMIT}
}

// resetMidRequest resets the connection while its request's handler runs: the handler is
// cancelled and the connection forgotten.
func resetMidRequest(t *testing.T, e *serverEnv) outcome {
	c := e.dial()
	req := echoReq("reset")
	req.SleepUs = proto.Int32(int32((30 * time.Minute).Microseconds()))
	b, _ := proto.Marshal(req)
	write(t, c, faultproxy.Request(1, echoservice.Method, b))
	eventually(t, "the handler to start", func() bool { return e.svc.Requests() == 1 })
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the server to drop the reset connection", func() bool { return e.srv.Connections() == 0 })
	return closedConn
}

func isNetTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
