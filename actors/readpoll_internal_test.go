package actors

import (
	"errors"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestReadPollResolvesItsOption(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{0, DefaultReadPoll}, {-1, 0}, {time.Millisecond, time.Millisecond},
	} {
		if got := readPoll(tc.in); got != tc.want {
			t.Errorf("readPoll(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	c, _ := tcpPair(t)
	if got := pollReads(c, 0, func() bool { return true }); got != c {
		t.Errorf("pollReads with no polling wrapped the connection")
	}
	if runtime.GOOS == "linux" {
		if _, ok := pollReads(c, DefaultReadPoll, func() bool { return true }).(*pollingConn); !ok {
			t.Errorf("pollReads did not wrap a TCP connection")
		}
	}
}

// A polling read returns what the peer writes while it polls, and polls only when data is
// expected; either way every byte arrives in order, EOF too, and the polling slot is given back.
func TestPollingReadDeliversEveryByte(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("readers poll on Linux only")
	}
	c, s := tcpPair(t)
	var expect atomic.Bool
	var asked atomic.Int64
	pc := pollReads(c, time.Second, func() bool { asked.Add(1); return expect.Load() }).(*pollingConn)
	buf := make([]byte, 64)
	for i, polled := range []bool{true, false, true, true, false} {
		expect.Store(polled)
		want := []byte{byte(i), byte(i + 1), byte(i + 2)}
		before := pc.polled
		if _, err := s.Write(want); err != nil {
			t.Fatal(err)
		}
		n, err := io.ReadAtLeast(pc, buf, len(want))
		if err != nil || string(buf[:n]) != string(want) {
			t.Fatalf("read %d (polling %v) = %v %v, want %v", i, polled, buf[:n], err, want)
		}
		if got := pc.polled > before; got != polled {
			t.Errorf("read %d: served by polling %v, want %v", i, got, polled)
		}
	}
	if asked.Load() == 0 {
		t.Error("the reader never asked whether data was due")
	}
	s.Close()
	expect.Store(true)
	if n, err := pc.Read(buf); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read after the peer closed = %d, %v, want EOF", n, err)
	}
	if n := pollers.Load(); n != 0 {
		t.Errorf("%d polling slots still taken", n)
	}
}

// No more than half the processors' worth of readers poll at once: a reader that finds no slot
// free parks at once.
func TestPollersAreBounded(t *testing.T) {
	limit := maxPollers()
	for range limit {
		if !takePoller() {
			t.Fatalf("a slot under the limit of %d was refused", limit)
		}
	}
	if takePoller() {
		t.Errorf("a slot over the limit of %d was granted", limit)
		releasePoller()
	}
	for range limit {
		releasePoller()
	}
	if n := pollers.Load(); n != 0 {
		t.Errorf("%d slots taken after every release", n)
	}
}
