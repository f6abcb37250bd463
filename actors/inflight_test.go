package actors_test

import (
	"bufio"
	"context"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// holdingServer is a baidu_std server, one goroutine per connection, that holds the first n
// requests of a connection unanswered until released, then answers them in one write and every
// later request at once (every request, when n is 0). It keeps only their correlation ids, so that calls in flight cost
// little beyond what they cost the client.
type holdingServer struct {
	addr    string
	reached chan struct{} // closed once n requests are held
	release chan struct{} // close it to have them answered
}

func startHoldingServer(t testing.TB, n int) *holdingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &holdingServer{addr: ln.Addr().String(), reached: make(chan struct{}), release: make(chan struct{})}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
		once  sync.Once
	)
	payload, _ := proto.Marshal(&echopb.EchoResponse{Message: proto.String("held")})
	answer := func(dst []byte, id int64) []byte {
		return wire.AppendFrame(dst, &wire.Meta{CorrelationID: id, IsResponse: true}, payload, nil)
	}
	serve := func(c net.Conn) {
		r := wire.NewReader(bufio.NewReader(c), 0)
		var held []int64 // nil once released, or from the start when n is 0
		if n > 0 {
			held = make([]int64, 0, n)
		}
		var f wire.Frame
		for {
			if err := r.ReadFrame(&f); err != nil {
				return
			}
			if held != nil {
				if held = append(held, f.Meta.CorrelationID); len(held) < n {
					continue
				}
				once.Do(func() { close(s.reached) })
				<-s.release
				var out []byte
				for _, id := range held {
					out = answer(out, id)
				}
				held = nil // from now on every request is answered at once
				if _, err := c.Write(out); err != nil {
					return
				}
				continue
			}
			if _, err := c.Write(answer(nil, f.Meta.CorrelationID)); err != nil {
				return
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// tenThousand is the number of calls the in-flight test and benchmark keep in flight at once.
const tenThousand = 10000

// inFlightChannel returns a channel to addr whose calls wait as long as the test needs.
func inFlightChannel(t testing.TB, sys *actors.System, addr string) *actors.PlainChannel {
	t.Helper()
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Timeout: 5 * time.Minute, ConnectTimeout: 10 * time.Second,
		MaxRetry: actors.NoRetry})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch
}

// goHeld starts n asynchronous calls on ch and returns them; done counts those that ended.
func goHeld(ch *actors.PlainChannel, n int, done *atomic.Int64) []*actors.Call {
	calls := make([]*actors.Call, n)
	req := echoReq("0123456789abcdef")
	for i := range calls {
		calls[i] = ch.Go(context.Background(), echoservice.Method, req, &echopb.EchoResponse{}, nil,
			func(*actors.Controller) { done.Add(1) })
	}
	return calls
}

// Ten thousand asynchronous calls are in flight at once on one connection, and all of them
// complete without error when the server answers.
func TestTenThousandCallsInFlightOnOneConnection(t *testing.T) {
	srv := startHoldingServer(t, tenThousand)
	sys := newSystem(t)
	ch := inFlightChannel(t, sys, srv.addr)
	var done atomic.Int64
	calls := goHeld(ch, tenThousand, &done)
	select {
	case <-srv.reached:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the server holds fewer than %d requests after 2 minutes; %d calls ended", tenThousand, done.Load())
	}
	if n := done.Load(); n != 0 {
		t.Errorf("%d calls ended before the server answered, want none", n)
	}
	close(srv.release)
	actors.Join(calls...)
	for i, c := range calls {
		if err := c.Err(); err != nil {
			t.Fatalf("call %d = %v", i, err)
		}
	}
	if n := done.Load(); n != tenThousand {
		t.Errorf("%d callbacks ran, want %d", n, tenThousand)
	}
	if n := socketNode(sys, srv.addr); n == nil || n.Counters["connections"] != 1 {
		t.Errorf("socket = %v, want one connection for every call", n)
	}
	eventually(t, "every call actor to be gone", func() bool {
		return sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "call" }) == nil
	})
}

// liveBytes is the memory the process holds after a collection: live heap and goroutine stacks.
func liveBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// BenchmarkInFlightMemory reports what a call in flight costs the client (B/in-flight-call): the
// live memory of ten thousand asynchronous calls on one connection, every request at a server
// that holds them, over their number. The server's share is 8 bytes a call (a correlation id).
func BenchmarkInFlightMemory(b *testing.B) {
	sys := newSystem(b)
	var perCall float64
	for b.Loop() {
		srv := startHoldingServer(b, tenThousand)
		ch := inFlightChannel(b, sys, srv.addr)
		before := liveBytes()
		var done atomic.Int64
		calls := goHeld(ch, tenThousand, &done)
		<-srv.reached
		perCall = float64(int64(liveBytes())-int64(before)) / tenThousand
		close(srv.release)
		actors.Join(calls...)
		ch.Close()
	}
	b.ReportMetric(perCall, "B/in-flight-call")
}

// idleConns is how many idle connections BenchmarkIdleConnectionMemory opens on each side.
const idleConns = 200

// rawIdleConns dials n connections to addr, makes one echo call on each by hand, and leaves them
// open and idle until the benchmark ends.
func rawIdleConns(b *testing.B, addr string, n int) {
	b.Helper()
	payload, _ := proto.Marshal(echoReq("x"))
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: int64(i + 1)}
		if _, err := c.Write(wire.AppendFrame(nil, &m, payload, nil)); err != nil {
			b.Fatal(err)
		}
		var f wire.Frame
		if err := wire.NewReader(bufio.NewReaderSize(c, 16), 0).ReadFrame(&f); err != nil || f.Meta.ErrorCode != 0 {
			b.Fatalf("raw call %d: %v (code %d)", i, err, f.Meta.ErrorCode)
		}
	}
}

// BenchmarkIdleConnectionMemory reports what an idle connection costs each side once it has
// carried a call: the server's (B/idle-server-conn: troupe's server, with hand-made client
// connections whose own few hundred bytes are counted in), and the client's
// (B/idle-client-conn: the sockets of one cluster channel over as many minimal servers, whose
// own cost per connection, measured with hand-made connections in the same run, is taken off;
// the channel's own state, its per-method metrics included, is shared by its sockets).
func BenchmarkIdleConnectionMemory(b *testing.B) {
	var server, client float64
	for b.Loop() {
		_, addr := startEcho(b, nil)
		before := liveBytes()
		rawIdleConns(b, addr, idleConns)
		server = float64(int64(liveBytes())-int64(before)) / idleConns

		minimal := make([]string, idleConns)
		for i := range minimal {
			minimal[i] = startHoldingServer(b, 0).addr
		}
		before = liveBytes()
		for _, a := range minimal {
			rawIdleConns(b, a, 1)
		}
		minimalCost := int64(liveBytes()) - int64(before)

		sys := newSystem(b)
		ch, err := sys.NewChannel("list://"+strings.Join(minimal, ","), &actors.ChannelOptions{LoadBalancer: "rr",
			ConnectTimeout: 10 * time.Second, Timeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		if err := ch.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			b.Fatal(err) // the channel's state, before its connections
		}
		before = liveBytes()
		for range idleConns - 1 {
			if err := ch.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
				b.Fatal(err)
			}
		}
		if n := countSockets(sys.Inspect()); n != idleConns {
			b.Fatalf("%d sockets after %d round-robin calls, want one per server", n, idleConns)
		}
		client = float64(int64(liveBytes())-int64(before)-minimalCost*(idleConns-1)/idleConns) / (idleConns - 1)
	}
	b.ReportMetric(server, "B/idle-server-conn")
	b.ReportMetric(client, "B/idle-client-conn")
}

// countSockets counts the socket nodes of an Inspect tree.
func countSockets(n *actors.Node) int {
	c := 0
	if n.Kind == "socket" {
		c++
	}
	for _, k := range n.Children {
		c += countSockets(k)
	}
	return c
}
