package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

const testTimeout = 10 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoCall calls example.EchoService.Echo at addr over a fresh connection, by hand with the wire
// package, and returns the response and its attachment.
func echoCall(t *testing.T, addr, msg string, attachment []byte) (*echopb.EchoResponse, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatalf("net.Dial(%q) = %v, want a connection", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(testTimeout))
	req, err := proto.Marshal(&echopb.EchoRequest{Message: proto.String(msg)})
	if err != nil {
		t.Fatal(err)
	}
	meta := &wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: 1}
	if _, err := conn.Write(wire.AppendFrame(nil, meta, req, attachment)); err != nil {
		t.Fatalf("conn.Write(request) = %v, want nil", err)
	}
	var f wire.Frame
	if err := wire.NewReader(bufio.NewReader(conn), 0).ReadFrame(&f); err != nil {
		t.Fatalf("ReadFrame() = %v, want a response", err)
	}
	if f.Meta.CorrelationID != 1 || f.Meta.ErrorCode != 0 {
		t.Fatalf("Call(%s Echo) = cid %d error %d %q, want cid 1 and success", addr, f.Meta.CorrelationID, f.Meta.ErrorCode, f.Meta.ErrorText)
	}
	resp := &echopb.EchoResponse{}
	if err := proto.Unmarshal(f.Payload, resp); err != nil {
		t.Fatalf("proto.Unmarshal(response) = %v, want nil", err)
	}
	return resp, f.Attachment
}

var (
	listeningLine = regexp.MustCompile(`^server (\d+) listening on (\S+)$`)
	reportLine    = regexp.MustCompile(`^S\[0\]=\d+ S\[1\]=\d+ S\[2\]=\d+ \[total=\d+\]$`)
)

func TestRun(t *testing.T) {
	const duration = 1500 * time.Millisecond
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w // run prints its addresses and reports there

	lines := make(chan string, 100)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	result := make(chan error, 1)
	finished := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(finished)
		result <- run(0, "127.0.0.1:0", 3, "0,1000", true, tuning{}, duration, security{}, "127.0.0.1:0")
	}()
	t.Cleanup(func() {
		select {
		case <-finished:
		case <-time.After(testTimeout):
			t.Errorf("run() still running %v after the test ended", testTimeout)
		}
		os.Stdout = stdout
		w.Close()
		<-scanned
		r.Close()
	})

	addrs := map[int]string{}
	for len(addrs) < 3 {
		select {
		case line := <-lines:
			m := listeningLine.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("run() printed %q before every server listened, want `server N listening on ADDR`", line)
			}
			i, _ := strconv.Atoi(m[1])
			addrs[i] = m[2]
		case <-time.After(testTimeout):
			t.Fatalf("run() printed %d listening addresses within %v, want 3", len(addrs), testTimeout)
		}
	}
	// -console: its URL follows the listening lines, and /status shows the three servers.
	var url string
	for url == "" {
		select {
		case line := <-lines:
			url, _ = strings.CutPrefix(line, "console: ")
		case <-time.After(testTimeout):
			t.Fatalf("run() printed no console URL within %v", testTimeout)
		}
	}
	resp, err := http.Get(url + "status?format=json")
	if err != nil {
		t.Fatal(err)
	}
	status, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for i := range 3 {
		if !strings.Contains(string(status), `"server": "`+addrs[i]+`"`) {
			t.Errorf("console /status lacks server %d (%s):\n%s", i, addrs[i], status)
		}
	}
	for i := range 3 {
		addr := addrs[i]
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "0" {
			t.Errorf("server %d address = %q, want a bound port", i, addr)
		}
		callStart := time.Now()
		resp, att := echoCall(t, addr, fmt.Sprint("hi ", i), []byte("att"))
		took := time.Since(callStart)
		if resp.GetMessage() != fmt.Sprint("hi ", i) || resp.GetServerIndex() != int32(i) || string(att) != "att" {
			t.Errorf("Call(server %d) = %q index %d attachment %q, want %q index %d attachment %q",
				i, resp.GetMessage(), resp.GetServerIndex(), att, fmt.Sprint("hi ", i), i, "att")
		}
		if i > 0 && took < time.Millisecond {
			t.Errorf("Call(server %d with -sleep_us=1000) took %v, want >= 1ms", i, took)
		}
	}

	select {
	case err := <-result:
		if err != nil {
			t.Errorf("run() = %v, want nil", err)
		}
		if took := time.Since(start); took < duration {
			t.Errorf("run(duration %v) returned after %v, want >= %v", duration, took, duration)
		}
	case <-time.After(testTimeout):
		t.Fatalf("run(duration %v) did not return within %v", duration, testTimeout)
	}
	// Every server is shut down: its port refuses connections.
	for i, addr := range addrs {
		if conn, err := net.DialTimeout("tcp", addr, testTimeout); err == nil {
			conn.Close()
			t.Errorf("net.Dial(server %d at %s) after run returned = connected, want refused", i, addr)
		}
	}
	os.Stdout = stdout
	w.Close()
	<-scanned
	reports := 0
	for len(lines) > 0 {
		line := <-lines
		if !reportLine.MatchString(line) {
			t.Errorf("run() printed %q, want a line like `S[0]=1 S[1]=1 S[2]=1 [total=3]`", line)
		}
		reports++
	}
	if reports == 0 {
		t.Errorf("run(duration %v) printed no per-second report, want at least one", duration)
	}
}

func TestRunBadArguments(t *testing.T) {
	tests := []struct {
		name       string
		port       int
		listenAddr string
		serverNum  int
		sleepUs    string
	}{
		{"no servers", 0, "127.0.0.1:0", 0, ""},
		{"bad sleep", 0, "127.0.0.1:0", 1, "x"},
		{"negative sleep", 0, "127.0.0.1:0", 2, "0,-5"},
		{"bad listen address", 0, "127.0.0.1", 1, ""},
		{"bad listen port", 0, "127.0.0.1:http", 1, ""},
		{"port out of range", 70000, "", 1, ""},
		{"listen port out of range", 0, "127.0.0.1:70000", 1, ""},
		{"unusable host", 0, "256.0.0.1:0", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := run(tt.port, tt.listenAddr, tt.serverNum, tt.sleepUs, true, tuning{}, time.Millisecond, security{}, ""); err == nil {
				t.Errorf("run(%d, %q, %d, %q, ...) = nil, want an error", tt.port, tt.listenAddr, tt.serverNum, tt.sleepUs)
			}
		})
	}
}

func TestRunNegativeMaxConcurrency(t *testing.T) {
	if err := run(0, "127.0.0.1:0", 1, "", true, tuning{maxConcurrency: -1}, time.Millisecond, security{}, ""); err == nil {
		t.Errorf("run(max_concurrency -1) = nil, want an error")
	}
	if err := run(0, "127.0.0.1:0", 1, "", true, tuning{}, time.Millisecond, security{}, "no-port"); err == nil || !strings.Contains(err.Error(), "-console no-port") {
		t.Errorf("run(-console no-port) = %v, want an error naming the flag", err)
	}
}

// When server i > 0 cannot listen, run returns the error but leaves servers 0..i-1 running: they
// are never shut down (their accept loops and the bound port leak). Harmless in main, which exits,
// but run's contract is to stop what it started.
func TestRunListenFailureStopsEarlierServers(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	first := net.JoinHostPort("127.0.0.1", strconv.Itoa(busyPort-1))
	if l, err := net.Listen("tcp", first); err != nil {
		t.Skipf("port %d is taken too: %v", busyPort-1, err)
	} else {
		l.Close()
	}
	if err := run(0, first, 2, "", true, tuning{}, time.Millisecond, security{}, ""); err == nil {
		t.Fatalf("run(2 servers from %s, the second port busy) = nil, want an error", first)
	}
	if conn, err := net.DialTimeout("tcp", first, testTimeout); err == nil {
		conn.Close()
		t.Errorf("net.Dial(%s) after run failed = connected, want refused (server 0 shut down)", first)
	}
}

func TestParseSleeps(t *testing.T) {
	ms := time.Millisecond
	good := []struct {
		list string
		n    int
		want []time.Duration
	}{
		{"", 2, []time.Duration{0, 0}},
		{"  ", 1, []time.Duration{0}},
		{"0,1000", 3, []time.Duration{0, ms, ms}},
		{"1000", 2, []time.Duration{ms, ms}},
		{" 5 , 7 ", 2, []time.Duration{5 * time.Microsecond, 7 * time.Microsecond}},
		{"1,2,3", 2, []time.Duration{time.Microsecond, 2 * time.Microsecond}},
	}
	for _, tt := range good {
		got, err := parseSleeps(tt.list, tt.n)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("parseSleeps(%q, %d) = %v, %v, want %v, nil", tt.list, tt.n, got, err, tt.want)
		}
	}
	for _, list := range []string{"x", "-5", "1,x", "0,-5", "1.5", ","} {
		if got, err := parseSleeps(list, 2); err == nil {
			t.Errorf("parseSleeps(%q, 2) = %v, nil, want an error", list, got)
		}
	}
}

func TestListenAddrs(t *testing.T) {
	good := []struct {
		listenAddr string
		port, n    int
		want       []string
	}{
		{"", 8000, 2, []string{":8000", ":8001"}},
		{"", 0, 3, []string{":0", ":0", ":0"}},
		{"127.0.0.1:0", 8000, 3, []string{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}},
		{"127.0.0.1:9000", 8000, 2, []string{"127.0.0.1:9000", "127.0.0.1:9001"}},
		{"[::1]:7000", 0, 1, []string{"[::1]:7000"}},
		{"", 65535, 1, []string{":65535"}},
	}
	for _, tt := range good {
		got, err := listenAddrs(tt.listenAddr, tt.port, tt.n)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("listenAddrs(%q, %d, %d) = %v, %v, want %v, nil", tt.listenAddr, tt.port, tt.n, got, err, tt.want)
		}
	}
	bad := []struct {
		listenAddr string
		port, n    int
	}{
		{"", 70000, 1},
		{"", -1, 1},
		{"", 65535, 2},
		{"127.0.0.1:70000", 0, 1},
		{"127.0.0.1:x", 0, 1},
		{"127.0.0.1", 0, 1},
	}
	for _, tt := range bad {
		if got, err := listenAddrs(tt.listenAddr, tt.port, tt.n); err == nil {
			t.Errorf("listenAddrs(%q, %d, %d) = %v, nil, want an error", tt.listenAddr, tt.port, tt.n, got)
		}
	}
}
