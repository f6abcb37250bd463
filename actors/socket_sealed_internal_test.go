package actors

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/internal/testcert"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// TestTLSRecordsLeftToTheBacklog: requests far larger than what the socket takes at once (the
// server's sockets have a small receive window) are encrypted by the socket actor and finished
// by its backlog goroutine, while small calls queue behind them on the same TLS connection;
// every call comes back intact, and the connection carries on afterwards.
func TestTLSRecordsLeftToTheBacklog(t *testing.T) {
	ca, err := testcert.NewCA("troupe test CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Sign(testcert.Leaf{Name: "echo server", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(&ServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	err = Handle(srv, "example.EchoService.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		sc := ServerCallFromContext(ctx)
		sc.SetResponseAttachment(sc.RequestAttachment())
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage())}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lc := deafListenConfig()
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
		<-served
	}()

	sys, err := NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(ln.Addr().String(), &ChannelOptions{
		TLS: &tls.Config{RootCAs: ca.Pool()}, ConnectTimeout: 10 * time.Second, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		var calls []*Call
		var want [][]byte
		for i := range 24 {
			size := 100 + i
			if i%6 == 0 {
				size = 3<<20 + i
			}
			att := bytes.Repeat([]byte{byte('a' + i)}, size)
			cntl := new(Controller)
			cntl.SetRequestAttachment(att)
			calls = append(calls, ch.Go(t.Context(), "example.EchoService.Echo",
				&echopb.EchoRequest{Message: proto.String("m")}, &echopb.EchoResponse{}, cntl, nil))
			want = append(want, att)
		}
		Join(calls...)
		for i, c := range calls {
			if err := c.Err(); err != nil {
				t.Fatalf("round %d, call %d = %v", round, i, err)
			}
			if got := c.Controller().ResponseAttachment(); !bytes.Equal(got, want[i]) {
				t.Fatalf("round %d, call %d: attachment of %d bytes came back as %d bytes", round, i, len(want[i]), len(got))
			}
		}
	}
}

// TestSealedConnKeepsRecordsInOrder: before capture, writes go to the connection; after, they are
// kept in order, the actor is told once of records written outside a flush until it takes them,
// and records written while it seals are taken with its own.
func TestSealedConnKeepsRecordsInOrder(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	s := &sealedConn{Conn: client}
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 5)
		_, err := io.ReadFull(server, b)
		if err != nil {
			b = nil
		}
		got <- b
	}()
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if b := <-got; string(b) != "hello" {
		t.Fatalf("the connection got %q before capture, want hello", b)
	}

	var told atomic.Int32
	s.startCapture(func() { told.Add(1) })
	s.Write([]byte("key-update "))
	s.Write([]byte("alert "))
	if n := told.Load(); n != 1 {
		t.Errorf("told %d times of records written outside a flush, want once", n)
	}
	if !s.pending() {
		t.Errorf("pending() = false with records kept")
	}
	if b := s.take(); string(b) != "key-update alert " {
		t.Errorf("take() = %q, want the records in order", b)
	}
	if s.pending() {
		t.Errorf("pending() = true after take")
	}
	s.mu.Lock()
	s.sealing = true
	s.mu.Unlock()
	s.Write([]byte("frames"))
	s.mu.Lock()
	s.sealing = false
	s.mu.Unlock()
	if n := told.Load(); n != 1 {
		t.Errorf("told of records written while sealing (%d times in all), want not", n)
	}
	b := s.take()
	if string(b) != "frames" {
		t.Errorf("take() = %q, want frames", b)
	}
	s.recycle(b)
	s.Write([]byte("again"))
	if n := told.Load(); n != 2 {
		t.Errorf("told %d times in all after a take and a new record, want 2", n)
	}
}
