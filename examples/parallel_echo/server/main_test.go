package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/examples/parallel_echo/pechopb"
	"github.com/troupe-rpc/troupe/wire"
)

const testTimeout = 10 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lineWriter hands each line written to it to a channel.
type lineWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // an unfinished line waits for its end
			return len(p), nil
		}
		select {
		case w.lines <- strings.TrimSuffix(line, "\n"):
		default: // the test stopped reading; drop the line
		}
	}
}

// next returns the next line, failing the test if none comes within testTimeout.
func (w *lineWriter) next(t *testing.T) string {
	t.Helper()
	select {
	case line := <-w.lines:
		return line
	case <-time.After(testTimeout):
		t.Fatalf("run() printed no line within %v", testTimeout)
		return ""
	}
}

// startRun runs the server with c until the test ends, and returns the address it listens on and
// its output.
func startRun(t *testing.T, c config) (string, *lineWriter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{lines: make(chan string, 100)}
	result := make(chan error, 1)
	go func() { result <- run(ctx, c, out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-result:
			if err != nil {
				t.Errorf("run() = %v, want nil", err)
			}
		case <-time.After(testTimeout):
			t.Errorf("run() still running %v after its context ended", testTimeout)
		}
	})
	line := out.next(t)
	m := regexp.MustCompile(`^server listening on (\S+)$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("run() printed %q first, want `server listening on ADDR`", line)
	}
	return m[1], out
}

// dial opens a raw connection to addr.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatalf("net.Dial(%s) = %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(testTimeout))
	return conn
}

// echo calls Echo with value and attachment over conn, by hand with the wire package, and returns
// the response frame.
func echo(t *testing.T, conn net.Conn, r *wire.Reader, cid int64, value int32, attachment []byte) *wire.Frame {
	t.Helper()
	payload, err := proto.Marshal(&pechopb.EchoRequest{Value: proto.Int32(value)})
	if err != nil {
		t.Fatal(err)
	}
	meta := &wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: cid}
	if _, err := conn.Write(wire.AppendFrame(nil, meta, payload, attachment)); err != nil {
		t.Fatalf("conn.Write(request) = %v", err)
	}
	f := new(wire.Frame)
	if err := r.ReadFrame(f); err != nil {
		t.Fatalf("ReadFrame() = %v, want the answer", err)
	}
	if f.Meta.CorrelationID != cid || f.Meta.ErrorCode != 0 {
		t.Fatalf("Call(Echo %d) = cid %d error %d %q, want cid %d and success", value, f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText, cid)
	}
	return f
}

// value decodes the EchoResponse of f.
func value(t *testing.T, f *wire.Frame) int32 {
	t.Helper()
	resp := &pechopb.EchoResponse{}
	if err := proto.Unmarshal(f.Payload, resp); err != nil {
		t.Fatalf("proto.Unmarshal(response %x) = %v", f.Payload, err)
	}
	return resp.GetValue()
}

func TestRunAnswersTheValue(t *testing.T) {
	for _, echoAttachment := range []bool{true, false} {
		addr, out := startRun(t, config{listenAddr: "127.0.0.1:0", echoAttachment: echoAttachment, interval: 20 * time.Millisecond})
		conn := dial(t, addr)
		r := wire.NewReader(bufio.NewReader(conn), 0)
		for i, v := range []int32{0, 42, -7, 1 << 30} {
			f := echo(t, conn, r, int64(i+1), v, []byte("att"))
			if got := value(t, f); got != v {
				t.Errorf("Call(Echo %d) = value %d, want %d", v, got, v)
			}
			if want := map[bool]string{true: "att", false: ""}[echoAttachment]; string(f.Attachment) != want {
				t.Errorf("Call(Echo %d) with -echo_attachment=%v = attachment %q, want %q", v, echoAttachment, f.Attachment, want)
			}
		}
		// The report counts the four requests, in one line or several.
		total := 0
		for total < 4 {
			line := out.next(t)
			var n int
			if _, err := fmt.Sscanf(line, "requests=%d", &n); err != nil {
				t.Fatalf("run() printed %q, want `requests=N`", line)
			}
			total += n
		}
		if total != 4 {
			t.Errorf("reports sum to %d requests, want 4", total)
		}
	}
}

// A request the parallel example's messages cannot parse (the string echo's) is answered EREQUEST.
func TestRunRejectsTheStringEcho(t *testing.T) {
	addr, _ := startRun(t, config{listenAddr: "127.0.0.1:0"})
	conn := dial(t, addr)
	meta := &wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: 9}
	// EchoRequest{message: "hello"} of example/echo_c++: field 1 is a string, not an int32.
	if _, err := conn.Write(wire.AppendFrame(nil, meta, []byte("\x0a\x05hello"), nil)); err != nil {
		t.Fatal(err)
	}
	var f wire.Frame
	if err := wire.NewReader(bufio.NewReader(conn), 0).ReadFrame(&f); err != nil {
		t.Fatalf("ReadFrame() = %v, want an error answer", err)
	}
	if f.Meta.ErrorCode != int32(wire.EREQUEST) {
		t.Errorf("Call(string echo) = error %d %q, want %d (EREQUEST)", f.Meta.ErrorCode, f.Meta.ErrorText, wire.EREQUEST)
	}
}

// -idle_timeout_s closes a connection that stays idle.
func TestRunIdleTimeout(t *testing.T) {
	addr, _ := startRun(t, config{listenAddr: "127.0.0.1:0", idleTimeoutS: 1})
	conn := dial(t, addr)
	r := wire.NewReader(bufio.NewReader(conn), 0)
	echo(t, conn, r, 1, 5, nil)
	start := time.Now()
	var f wire.Frame
	if err := r.ReadFrame(&f); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadFrame() on an idle connection = %v, want io.EOF once the server closes it", err)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("idle connection closed after %v, want about 1s (-idle_timeout_s=1)", took)
	}
}

// The server stops when its context ends and its port refuses connections.
func TestRunStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{lines: make(chan string, 100)}
	result := make(chan error, 1)
	go func() { result <- run(ctx, config{listenAddr: "127.0.0.1:0"}, out) }()
	addr := strings.TrimPrefix(out.next(t), "server listening on ")
	cancel()
	select {
	case err := <-result:
		if err != nil {
			t.Errorf("run() = %v, want nil", err)
		}
	case <-time.After(testTimeout):
		t.Fatalf("run() did not return within %v of its context ending", testTimeout)
	}
	if conn, err := net.DialTimeout("tcp", addr, testTimeout); err == nil {
		conn.Close()
		t.Errorf("net.Dial(%s) after run returned = connected, want refused", addr)
	}
}

func TestOptions(t *testing.T) {
	for _, tt := range []struct {
		c        config
		addr     string
		idle     time.Duration
		wantFail bool
	}{
		{c: config{port: 8002, idleTimeoutS: -1}, addr: ":8002"},
		{c: config{port: 8002, idleTimeoutS: 0}, addr: ":8002"},
		{c: config{port: 8002, idleTimeoutS: 30, maxConcurrency: 5}, addr: ":8002", idle: 30 * time.Second},
		{c: config{port: 1, listenAddr: "127.0.0.1:0"}, addr: "127.0.0.1:0"},
		{c: config{port: 70000}, wantFail: true},
		{c: config{port: -1}, wantFail: true},
		{c: config{listenAddr: "127.0.0.1"}, wantFail: true},
		{c: config{maxConcurrency: -1}, wantFail: true},
	} {
		addr, o, err := tt.c.options()
		if tt.wantFail {
			if err == nil {
				t.Errorf("options(%+v) = nil error, want one", tt.c)
			}
			continue
		}
		if err != nil || addr != tt.addr || o.IdleTimeout != tt.idle || o.MaxConcurrency != tt.c.maxConcurrency {
			t.Errorf("options(%+v) = %q, %+v, %v, want %q, IdleTimeout %v, MaxConcurrency %d",
				tt.c, addr, o, err, tt.addr, tt.idle, tt.c.maxConcurrency)
		}
	}
}
