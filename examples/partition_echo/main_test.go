package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPartitionEcho(t *testing.T) {
	var lines string
	for i := range 3 {
		srv, err := actors.NewServer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := (&echoservice.Service{Index: int32(i)}).Register(srv); err != nil {
			t.Fatal(err)
		}
		addr, err := srv.Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown(context.Background())
		lines += addr.String() + " " + string(rune('0'+i)) + "/3\n"
	}
	path := filepath.Join(t.TempDir(), "server_list")
	if err := os.WriteFile(path, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	c := config{server: "file://" + path, partitions: 3, loadBalancer: "rr", threads: 2,
		duration: 300 * time.Millisecond, timeout: time.Second, maxRetry: 1}
	if err := run(c); err != nil {
		t.Fatalf("run() = %v", err)
	}
	c.partitions = 0
	if err := run(c); err == nil {
		t.Fatal("run(-partition_num=0) = nil, want an error")
	}
}
