package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestBenchRuns(t *testing.T) {
	srv, err := actors.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&echoservice.Service{EchoAttachment: true}).Register(srv); err != nil {
		t.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	c := config{server: addr.String(), threads: 4, requestSize: 16, attachmentSize: 8,
		duration: 300 * time.Millisecond, timeout: time.Second, maxRetry: 1, console: "127.0.0.1:0"}
	if err := run(c); err != nil {
		t.Fatalf("run() = %v", err)
	}
	c.console = "no-port"
	if err := run(c); err == nil {
		t.Fatal("run(-console no-port) = nil, want an error")
	}
	if err := run(config{server: addr.String(), threads: 0, duration: time.Second}); err == nil {
		t.Fatal("run(thread_num=0) = nil, want an error")
	}
}

func TestBenchOverACluster(t *testing.T) {
	var addrs []string
	for range 2 {
		srv, err := actors.NewServer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := (&echoservice.Service{}).Register(srv); err != nil {
			t.Fatal(err)
		}
		addr, err := srv.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown(context.Background())
		addrs = append(addrs, addr.String())
	}
	c := config{server: "list://" + addrs[0] + "," + addrs[1], loadBalancer: "random", threads: 4, requestSize: 16,
		duration: 300 * time.Millisecond, timeout: time.Second, maxRetry: 1}
	if err := run(c); err != nil {
		t.Fatalf("run() = %v", err)
	}
}

// -cpuprofile, -memprofile and -trace write what go tool pprof and go tool trace read.
func TestBenchRecorders(t *testing.T) {
	dir := t.TempDir()
	for _, r := range []struct {
		name   string
		start  func(string) (func(), error)
		header string
	}{{"cpu.prof", profileCPU, "\x1f\x8b"}, {"mem.prof", profileAllocs, "\x1f\x8b"}, {"run.trace", traceTo, "go 1."}} {
		path := filepath.Join(dir, r.name)
		stop, err := r.start(path)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		stop()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), r.header) {
			t.Errorf("%s starts with %q, want %q", r.name, b[:min(len(b), 8)], r.header)
		}
	}
	if _, err := traceTo(filepath.Join(dir, "missing", "run.trace")); err == nil {
		t.Error("traceTo into a missing directory succeeded")
	}
}
