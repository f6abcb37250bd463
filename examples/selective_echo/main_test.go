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
	progressLine = regexp.MustCompile(`^qps=\d+ latency=\d+us errors=\d+$`)
	summaryLine  = regexp.MustCompile(`^qps=(\d+) p50_us=\d+ p99_us=\d+ errors=(\d+)$`)
)

func TestSelectiveEcho(t *testing.T) {
	addrs, svcs := startServers(t, serverNum)
	for _, backup := range []time.Duration{0, time.Millisecond} {
		var out bytes.Buffer
		c := config{servers: addrs, loadBalancer: "rr", threads: 4, duration: 300 * time.Millisecond,
			timeout: time.Second, backup: backup, maxRetry: 3, requestSize: 16, attachmentSize: 8,
			interval: 100 * time.Millisecond, out: &out}
		if err := run(c); err != nil {
			t.Fatalf("run() = %v", err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) < 2 {
			t.Fatalf("output has %d lines, want progress lines before the summary:\n%s", len(lines), out.String())
		}
		for _, line := range lines[:len(lines)-1] {
			if !progressLine.MatchString(line) {
				t.Errorf("progress line %q, want `qps=N latency=Nus errors=N`", line)
			}
		}
		m := summaryLine.FindStringSubmatch(lines[len(lines)-1])
		if m == nil {
			t.Fatalf("last line %q, want `qps=N p50_us=N p99_us=N errors=N`", lines[len(lines)-1])
		}
		if qps, _ := strconv.Atoi(m[1]); qps == 0 || m[2] != "0" {
			t.Errorf("summary %q, want calls made and errors=0", lines[len(lines)-1])
		}
	}
	for i, svc := range svcs {
		if svc.Requests() == 0 {
			t.Errorf("server %d got no request, want every one of the 11 used", i)
		}
	}
}

func TestSelectiveEchoBadArguments(t *testing.T) {
	for _, c := range []config{
		{startingServer: "127.0.0.1:8114", threads: 0, duration: time.Second},
		{startingServer: "127.0.0.1", threads: 1, duration: time.Second},
		{startingServer: "127.0.0.1:65530", threads: 1, duration: time.Second},
		{servers: []string{"127.0.0.1:1"}, threads: 1, duration: time.Second},
		{startingServer: "127.0.0.1:8114", loadBalancer: "nope", threads: 1, duration: time.Second},
	} {
		if err := run(c); err == nil {
			t.Errorf("run(%+v) = nil, want an error", c)
		}
	}
}

func TestConsecutive(t *testing.T) {
	got, err := consecutive("127.0.0.1:8114", 3)
	if err != nil || strings.Join(got, " ") != "127.0.0.1:8114 127.0.0.1:8115 127.0.0.1:8116" {
		t.Errorf("consecutive(127.0.0.1:8114, 3) = %v, %v, want 8114..8116", got, err)
	}
}
