package actors

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
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

// A held frame leaves only with the next write or flush, and drain sends it before the
// connection closes.
func TestWriteCombinerHoldsUntilFlush(t *testing.T) {
	var out bytes.Buffer
	sc := &serverConn{}
	sc.out.w = &out
	sc.out.idle.L = &sc.out.mu
	frame := func(id int64) []byte {
		m := wire.Meta{IsResponse: true, CorrelationID: id}
		return wire.AppendFrame(nil, &m, []byte("answer"), nil)
	}
	m1 := wire.Meta{IsResponse: true, CorrelationID: 1}
	sc.out.hold(&m1, []byte("answer"), nil)
	if out.Len() != 0 {
		t.Fatalf("a held frame was written: %d bytes", out.Len())
	}
	m2 := wire.Meta{IsResponse: true, CorrelationID: 2}
	sc.out.write(&m2, []byte("answer"), nil)
	if want := append(frame(1), frame(2)...); !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("write sent %d bytes, want the held frame and its own (%d bytes)", out.Len(), len(want))
	}
	out.Reset()
	m3 := wire.Meta{IsResponse: true, CorrelationID: 3}
	sc.out.hold(&m3, []byte("answer"), nil)
	sc.out.flush()
	sc.out.flush() // nothing left: no second write
	if want := frame(3); !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("flush sent %d bytes, want %d", out.Len(), len(want))
	}
	out.Reset()
	m4 := wire.Meta{IsResponse: true, CorrelationID: 4}
	sc.out.hold(&m4, []byte("answer"), nil)
	sc.conn = nopConn{}
	sc.drain(time.Now().Add(time.Second))
	if want := frame(4); !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("drain sent %d bytes, want the held frame (%d bytes)", out.Len(), len(want))
	}
}

// nopConn is a net.Conn whose only used method, SetWriteDeadline, does nothing.
type nopConn struct{ net.Conn }

func (nopConn) SetWriteDeadline(time.Time) error { return nil }
