package actors

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawPair returns both ends of a loopback TCP connection, the first made by rawConn.
func rawPair(t *testing.T) (raw *rawIOConn, peer net.Conn) {
	t.Helper()
	c, s := tcpPair(t)
	r, ok := rawConn(c).(*rawIOConn)
	if !ok {
		t.Fatal("rawConn did not wrap a TCP connection")
	}
	return r, s
}

// Many megabytes each way at once, more than the socket buffers hold, so that reads find the
// socket empty and writes find it full and both park in the network poller: every byte arrives
// in order, and EOF after them.
func TestRawConnMovesEveryByteBothWays(t *testing.T) {
	raw, peer := rawPair(t)
	const size = 16 << 20
	out := make([]byte, size)
	for i := range out {
		out[i] = byte(i * 7)
	}
	errs := make(chan error, 3)
	got := make(chan []byte, 2)
	go func() { // raw writes while it also reads
		_, err := raw.Write(out)
		if err == nil {
			err = raw.Conn.(*net.TCPConn).CloseWrite()
		}
		errs <- err
	}()
	go func() { // the peer echoes back a copy of what it reads, and its EOF
		b, err := io.ReadAll(peer)
		if err == nil {
			_, err = peer.Write(b)
		}
		if err == nil {
			err = peer.(*net.TCPConn).CloseWrite()
		}
		got <- b
		errs <- err
	}()
	back, err := io.ReadAll(raw)
	if err != nil {
		t.Fatalf("raw read: %v", err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(<-got, out) {
		t.Fatal("the peer did not read what the raw connection wrote")
	}
	if !bytes.Equal(back, out) {
		t.Fatal("the raw connection did not read what the peer wrote")
	}
}

// Errors read as the connection's own: a deadline is os.ErrDeadlineExceeded and a timeout, a
// closed connection net.ErrClosed, a reset names the system call; each a *net.OpError of the
// operation, with both addresses.
func TestRawConnReportsErrorsAsTheConnectionWould(t *testing.T) {
	raw, peer := rawPair(t)
	b := make([]byte, 16)

	if err := raw.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := raw.Read(b)
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past its deadline: %v, want a timeout", err)
	}
	checkOpError(t, err, "read", raw)
	if err := raw.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}

	// The peer resets: it closes with unread data and SO_LINGER 0.
	if _, err := raw.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	if err := peer.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	peer.Close()
	_, err = raw.Read(b)
	if !errors.Is(err, syscall.ECONNRESET) || !strings.Contains(err.Error(), "read: connection reset by peer") {
		t.Fatalf("read after a reset: %v, want ECONNRESET from read", err)
	}
	checkOpError(t, err, "read", raw)

	raw.Close()
	if _, err := raw.Read(b); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v, want net.ErrClosed", err)
	}
	_, err = raw.Write(b)
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v, want net.ErrClosed", err)
	}
	checkOpError(t, err, "write", raw)
}

func checkOpError(t *testing.T, err error, op string, c net.Conn) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != op || oe.Source.String() != c.LocalAddr().String() || oe.Addr.String() != c.RemoteAddr().String() {
		t.Fatalf("%v: want a *net.OpError %q from %v to %v", err, op, c.LocalAddr(), c.RemoteAddr())
	}
}

// A read into nothing returns at once, and a vectored write goes to the connection underneath,
// which writes net.Buffers as one.
func TestRawConnEmptyReadAndVectoredWrite(t *testing.T) {
	raw, peer := rawPair(t)
	if n, err := raw.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
	if vectorWriter(raw) != raw.Conn {
		t.Fatal("vectorWriter did not unwrap the raw connection")
	}
	bufs := net.Buffers{[]byte("ab"), []byte("cd"), []byte("ef")}
	if _, err := bufs.WriteTo(vectorWriter(raw)); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	if _, err := io.ReadFull(peer, b); err != nil || string(b) != "abcdef" {
		t.Fatalf("peer read %q, %v", b, err)
	}
}

// A read and a write allocate nothing: their callbacks are made once per connection.
func TestRawConnAllocatesNothing(t *testing.T) {
	raw, peer := rawPair(t)
	b := make([]byte, 8)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := raw.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(peer, b); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Write(b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(raw, b); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write and read, want none", allocs)
	}
}
