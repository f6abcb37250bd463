package actors

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
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

// A reset the poll meets is the read's error, as a parked read would report it: the kernel
// reports it once, and a read after it would find a plain end of file.
func TestPollingReadReportsAReset(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("readers poll on Linux only")
	}
	c, s := tcpPair(t)
	pc := pollReads(c, time.Second, func() bool { return true }).(*pollingConn)
	if err := s.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	s.Close() // with no linger: a reset
	_, err := pc.Read(make([]byte, 8))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after a reset = %v, want ECONNRESET", err)
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "read" {
		t.Errorf("read after a reset = %#v, want a *net.OpError of a read", err)
	}
}

// After four polls in a row that found nothing the reader lets the next 1, 3, 7 … reads go
// without polling; a poll that finds data ends the backoff.
func TestPollingBacksOffWhenNothingComes(t *testing.T) {
	c, s := tcpPair(t)
	var polls int
	found := false // what the next poll finds
	pc := &pollingConn{Conn: c, d: time.Nanosecond, expect: func() bool { return true },
		poll: func(b []byte) (int, bool, error) {
			polls++
			if found {
				return copy(b, "x"), false, nil
			}
			return 0, true, nil
		}}
	buf := make([]byte, 8)
	read := func() bool { // one read, reporting whether it polled; the data comes from the socket
		before := polls
		if !found {
			if _, err := s.Write([]byte("y")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := pc.Read(buf); err != nil {
			t.Fatal(err)
		}
		return polls > before
	}
	var got []bool
	for range 12 {
		got = append(got, read())
	}
	// four misses, skip 1, poll (miss), skip 3, poll (miss), skip 7 (the first one here)
	want := []bool{true, true, true, true, false, true, false, false, false, true, false, false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("polled %v, want %v", got, want)
	}
	for range 5 { // the rest of the 7 skips
		if read() {
			t.Fatal("polled during the backoff")
		}
	}
	found = true
	if !read() {
		t.Fatal("no poll after the backoff")
	}
	for i := range 2 {
		if !read() {
			t.Errorf("read %d after a poll that found data did not poll", i)
		}
	}
}

// A poll runs many times per read while an answer is due: it must not allocate, or a lone
// caller's reader would make garbage at the rate it spins.
func TestPollAllocatesNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("readers poll on Linux only")
	}
	c, s := tcpPair(t)
	pc := pollReads(c, time.Second, func() bool { return true }).(*pollingConn)
	buf := make([]byte, 8)
	var bad error
	empty := testing.AllocsPerRun(100, func() {
		if n, again, err := pc.poll(buf); n != 0 || !again {
			bad = fmt.Errorf("a poll of an empty socket read %d bytes (again %v, err %v)", n, again, err)
		}
	})
	if bad != nil {
		t.Fatal(bad)
	}
	if _, err := s.Write(make([]byte, 8*200)); err != nil {
		t.Fatal(err)
	}
	full := testing.AllocsPerRun(100, func() {
		if n, _, err := pc.poll(buf); err != nil || n == 0 && bad == nil {
			bad = fmt.Errorf("a poll of a socket with data read %d bytes (err %v)", n, err)
		}
	})
	if bad != nil {
		t.Fatal(bad)
	}
	if empty != 0 || full != 0 {
		t.Errorf("a poll allocates %v times on an empty socket and %v with data, want 0", empty, full)
	}
}

// A reader yields and polls after the answer of a caller that calls one at a time, and stops
// both once calls overlap, until a round has one answer again.
func TestAnswerRoundsTellALoneCaller(t *testing.T) {
	r := answerRounds{lone: true}
	steps := []struct {
		last, yield, lone bool
	}{
		{last: true, yield: true, lone: true},    // one call at a time
		{last: true, yield: true, lone: true},    // and again
		{last: false, yield: false, lone: true},  // two calls overlap: the round goes on
		{last: true, yield: false, lone: false},  // a round of two answers
		{last: false, yield: false, lone: false}, // three overlap
		{last: false, yield: false, lone: false},
		{last: true, yield: false, lone: false},
		{last: true, yield: true, lone: true}, // one at a time again
	}
	for i, s := range steps {
		if got := r.delivered(s.last); got != s.yield || r.lone != s.lone {
			t.Fatalf("answer %d (last %v): yield %v, lone %v; want %v, %v", i, s.last, got, r.lone, s.yield, s.lone)
		}
	}
}
