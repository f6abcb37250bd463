package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startServers starts n echo servers on loopback, as examples/echo/server -server_num n does,
// and returns their addresses and services.
func startServers(t *testing.T, n int) ([]string, []*echoservice.Service) {
	t.Helper()
	svcs, addrs := actorstest.StartEchoServers(t, n)
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
			c := tt.c
			c.channelNum, c.threads, c.duration, c.interval = 3, 4, 300*time.Millisecond, 100*time.Millisecond
			c.timeout, c.requestSize, c.attachmentSize, c.out = time.Second, 16, 8, &out
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
