package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const timeout = 10 * time.Second

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, c); c.Close() })
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

func newProxy(t *testing.T) (*Proxy, net.Conn) {
	t.Helper()
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := net.DialTimeout("tcp", p.Addr(), timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return p, c
}

// roundTrip writes b and reads len(b) bytes back.
func roundTrip(c net.Conn, b []byte) ([]byte, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	got := make([]byte, len(b))
	_, err := io.ReadFull(c, got)
	return got, err
}

func TestProxyRelays(t *testing.T) {
	p, c := newProxy(t)
	got, err := roundTrip(c, []byte("hello"))
	if err != nil || string(got) != "hello" {
		t.Fatalf("roundTrip = %q, %v; want hello", got, err)
	}
	st := p.Stats()
	if st.Accepted != 1 || st.Open != 1 || st.Bytes[Up] != 5 || st.Bytes[Down] != 5 {
		t.Fatalf("Stats() = %+v, want 1 connection and 5 bytes each way", st)
	}
}

func TestProxyStallThenClear(t *testing.T) {
	p, c := newProxy(t)
	p.Stall(Down)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4)); n != 0 || !isTimeout(err) {
		t.Fatalf("Read during a stall = %d, %v; want a timeout", n, err)
	}
	p.Clear()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "held" {
		t.Fatalf("after Clear: %q, %v; want the held bytes", got, err)
	}
}

func TestProxyBlackhole(t *testing.T) {
	p, c := newProxy(t)
	p.Blackhole(Up)
	if _, err := c.Write([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4)); n != 0 || !isTimeout(err) {
		t.Fatalf("Read after a blackhole = %d, %v; want a timeout", n, err)
	}
	p.ClearDir(Up)
	if got, err := roundTrip(c, []byte("kept")); err != nil || string(got) != "kept" {
		t.Fatalf("after ClearDir: %q, %v", got, err)
	}
	if b := p.Stats().Bytes[Up]; b != 4 {
		t.Fatalf("%d bytes forwarded up, want 4 (the blackholed ones are not)", b)
	}
}

func TestProxyCorrupt(t *testing.T) {
	p, c := newProxy(t)
	p.CorruptAt(Down, 2)
	got, err := roundTrip(c, []byte{0, 0, 0, 0})
	if err != nil || !bytes.Equal(got, []byte{0, 0, 0xff, 0}) {
		t.Fatalf("CorruptAt(Down, 2): % x, %v", got, err)
	}
	p.Clear()
	p.Corrupt(Up)
	got, err = roundTrip(c, []byte{1, 2})
	if err != nil || !bytes.Equal(got, []byte{0xfe, 0xfd}) {
		t.Fatalf("Corrupt(Up): % x, %v", got, err)
	}
}

func TestProxyCutAfter(t *testing.T) {
	p, c := newProxy(t)
	p.CutAfter(Down, 3)
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if string(got) != "abc" || err != nil {
		t.Fatalf("CutAfter(Down, 3): read %q, %v; want abc then EOF", got, err)
	}
	waitFor(t, "the connection to close", func() bool { return p.Stats().Open == 0 })
}

func TestProxyReset(t *testing.T) {
	p, c := newProxy(t)
	p.Reset(Up)
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err := io.ReadAll(c)
	if !errors.Is(err, syscallECONNRESET) {
		t.Fatalf("read after Reset = %v, want ECONNRESET", err)
	}
}

func TestProxyRefuseAndCloseConns(t *testing.T) {
	p, c := newProxy(t)
	if _, err := roundTrip(c, []byte("x")); err != nil { // c is relayed now
		t.Fatal(err)
	}
	p.Refuse(true)
	// The reset can arrive while the dial is still completing, or after.
	if c2, err := net.DialTimeout("tcp", p.Addr(), timeout); err == nil {
		_ = c2.SetDeadline(time.Now().Add(timeout))
		n, err := c2.Read(make([]byte, 1))
		c2.Close()
		if n != 0 || err == nil || isTimeout(err) {
			t.Fatalf("read on a refused connection = %d, %v; want it closed", n, err)
		}
	} else if !errors.Is(err, syscallECONNRESET) {
		t.Fatalf("dial = %v, want success or a reset", err)
	}
	waitFor(t, "the refusal to be counted", func() bool { return p.Stats().Refused == 1 })
	if st := p.Stats(); st.Refused != 1 {
		t.Fatalf("Stats() = %+v, want 1 refused", st)
	}
	p.CloseConns()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("read after CloseConns = %v, want EOF", err)
	}
}

func TestProxyDelayAndThrottle(t *testing.T) {
	p, c := newProxy(t)
	p.Delay(Up, 50*time.Millisecond)
	start := time.Now()
	if got, err := roundTrip(c, []byte("slow")); err != nil || string(got) != "slow" {
		t.Fatalf("with Delay: %q, %v", got, err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("delayed round trip took %v, want at least 50ms", d)
	}
	p.Clear()
	p.Throttle(Down, 1000)
	start = time.Now()
	if got, err := roundTrip(c, make([]byte, 200)); err != nil || len(got) != 200 {
		t.Fatalf("with Throttle: %d bytes, %v", len(got), err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("200 bytes at 1000 B/s took %v, want about 200ms", d)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestProxyCloseWhileStalled(t *testing.T) {
	p, c := newProxy(t)
	p.Stall(Down)
	p.Delay(Up, time.Hour)
	if _, err := c.Write([]byte("stuck")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the proxy to relay the connection", func() bool { return p.Stats().Open == 1 })
	if err := p.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if st := p.Stats(); st.Open != 0 {
		t.Fatalf("after Close, Stats() = %+v, want no connection open", st)
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, syscallECONNRESET) {
		t.Fatalf("read after Close = %v, want the connection closed", err)
	}
}
