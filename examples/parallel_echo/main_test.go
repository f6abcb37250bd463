package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/examples/parallel_echo/internal/pechoservice"
	"github.com/troupe-rpc/troupe/examples/parallel_echo/pechopb"
)

const testTimeout = 10 * time.Second

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// shutdownAtCleanup shuts srv down when the test ends.
func shutdownAtCleanup(t *testing.T, srv *actors.Server) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v, want nil", err)
		}
	})
}

// startServers starts n of examples/parallel_echo/server's servers on loopback (the service and
// options its main uses) and returns their addresses and services.
func startServers(t *testing.T, n int) ([]string, []*pechoservice.Service) {
	t.Helper()
	var addrs []string
	var svcs []*pechoservice.Service
	for range n {
		srv, svc, addr, err := pechoservice.Start("127.0.0.1:0", pechoservice.Options{EchoAttachment: true})
		if err != nil {
			t.Fatalf("pechoservice.Start() = %v, want a server", err)
		}
		shutdownAtCleanup(t, srv)
		addrs, svcs = append(addrs, addr.String()), append(svcs, svc)
	}
	return addrs, svcs
}

var (
	progressLine = regexp.MustCompile(`^qps=\d+ latency=\d+us errors=\d+ sub\[0\]=\d+us sub\[1\]=\d+us sub\[2\]=\d+us$`)
	summaryLine  = regexp.MustCompile(`^qps=(\d+) p50_us=\d+ p99_us=\d+ errors=(\d+)$`)
)

// checkOutput checks the progress lines and that the summary reports calls and no error.
func checkOutput(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, line := range lines[:len(lines)-1] {
		if !progressLine.MatchString(line) {
			t.Errorf("progress line %q, want `qps=N latency=Nus errors=N sub[0]=Nus sub[1]=Nus sub[2]=Nus`", line)
		}
	}
	if len(lines) < 2 {
		t.Errorf("output has %d lines, want progress lines before the summary:\n%s", len(lines), out)
	}
	m := summaryLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q, want `qps=N p50_us=N p99_us=N errors=N`", lines[len(lines)-1])
	}
	if qps, _ := strconv.Atoi(m[1]); qps == 0 || m[2] != "0" {
		t.Errorf("summary %q, want calls made and errors=0", lines[len(lines)-1])
	}
}

// testConfig is a short run of 4 callers on 3 sub-channels, reporting every 100ms.
func testConfig(c config, out *bytes.Buffer) config {
	c.channelNum, c.threads, c.duration, c.interval = 3, 4, 300*time.Millisecond, 100*time.Millisecond
	c.timeout, c.requestSize, c.attachmentSize, c.out = time.Second, 16, 8, out
	return c
}

func TestParallelEcho(t *testing.T) {
	addrs, svcs := startServers(t, 2)
	tests := []struct {
		name string
		c    config
	}{
		{"three channels", config{server: addrs[0]}},
		{"same channel", config{server: addrs[0], sameChannel: true}},
		{"cluster sub-channels", config{server: "list://" + strings.Join(addrs, ","), loadBalancer: "rr", maxRetry: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			c := testConfig(tt.c, &out)
			before := svcs[0].Requests() + svcs[1].Requests()
			if err := run(c); err != nil {
				t.Fatalf("run() = %v", err)
			}
			checkOutput(t, out.String())
			if got := svcs[0].Requests() + svcs[1].Requests() - before; got%3 != 0 || got == 0 {
				t.Errorf("servers got %d requests, want a multiple of 3 (3 per call)", got)
			}
		})
	}
}

func TestParallelEchoBadArguments(t *testing.T) {
	for _, c := range []config{
		{server: "127.0.0.1:1", channelNum: 3, threads: 0, duration: time.Second},
		{server: "127.0.0.1:1", channelNum: 0, threads: 1, duration: time.Second},
		{server: "127.0.0.1:99999", channelNum: 3, threads: 1, duration: time.Second},
		{server: "list://127.0.0.1:1", loadBalancer: "nope", channelNum: 3, threads: 1, duration: time.Second},
	} {
		if err := run(c); err == nil {
			t.Errorf("run(%+v) = nil, want an error", c)
		}
	}
}

// A server that answers with a value other than the request's fails every call: the client
// checks each merged answer.
func TestParallelEchoChecksTheValue(t *testing.T) {
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	shutdownAtCleanup(t, srv)
	var answered atomic.Int64
	err = actors.Handle(srv, pechopb.EchoService_Echo_FullMethodName, func(_ context.Context, req *pechopb.EchoRequest) (*pechopb.EchoResponse, error) {
		answered.Add(1)
		return &pechopb.EchoResponse{Value: proto.Int32(req.GetValue() + 1)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(testConfig(config{server: addr.String()}, &out)); err != nil {
		t.Fatalf("run() = %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	m := summaryLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("last line %q, want `qps=N p50_us=N p99_us=N errors=N`", lines[len(lines)-1])
	}
	if errs, _ := strconv.Atoi(m[2]); errs == 0 || answered.Load() == 0 {
		t.Errorf("summary %q after %d answers of value+1, want errors > 0", lines[len(lines)-1], answered.Load())
	}
	if !strings.Contains(lines[len(lines)-1], "p50_us=0 p99_us=0") {
		t.Errorf("summary %q, want no successful call's latency (p50_us=0 p99_us=0)", lines[len(lines)-1])
	}
}

func TestCheckValue(t *testing.T) {
	req := &pechopb.EchoRequest{Value: proto.Int32(42)}
	for _, tt := range []struct {
		resp *pechopb.EchoResponse
		ok   bool
	}{
		{&pechopb.EchoResponse{Value: proto.Int32(42)}, true},
		{&pechopb.EchoResponse{Value: proto.Int32(43)}, false},
		{&pechopb.EchoResponse{Value: proto.Int32(0)}, false},
		{&pechopb.EchoResponse{}, false},
	} {
		if err := checkValue(req, tt.resp); (err == nil) != tt.ok {
			t.Errorf("checkValue(42, %v) = %v, want ok=%v", tt.resp, err, tt.ok)
		}
	}
}

// Each caller numbers its requests 0, 1, 2, …, as brpc's client does, and checks each answer
// carries its request's value.
func TestValueMessages(t *testing.T) {
	addrs, _ := startServers(t, 1)
	sys, err := actors.NewSystem(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(addrs[0], &actors.ChannelOptions{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	m := valueMessages(pechopb.NewEchoServiceClient(ch))
	for _, n := range []int64{0, 1, 7} {
		m.Prepare(n)
		var cntl actors.Controller
		if err := m.Call(context.Background(), &cntl); err != nil {
			t.Fatalf("Call() after Prepare(%d) = %v, want nil", n, err)
		}
		if err := m.Check(); err != nil {
			t.Errorf("Check() after Prepare(%d) = %v, want nil", n, err)
		}
	}
}
