package combo_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// partitionList writes a server list of lines and returns its file:// URL.
func partitionList(b *testing.B, lines []string) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "servers")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	return "file://" + path
}

// benchCalls runs parallel callers of call until b.N calls are done.
func benchCalls(b *testing.B, call func() error) {
	b.ReportAllocs()
	b.SetParallelism(benchCallers)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPartitionCall measures a call on a 3-partition PartitionChannel over three loopback
// servers (brpc's partition_echo), at 8 calls in flight.
func BenchmarkPartitionCall(b *testing.B) {
	var lines []string
	for _, p := range []string{"0/3", "1/3", "2/3"} {
		lines = append(lines, startEcho(b, nil)+" "+p)
	}
	sys := newSystem(b)
	pc, err := combo.NewPartitionChannel(sys, 3, combo.SlashParser{}, partitionList(b, lines),
		&combo.PartitionOptions{Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	benchCalls(b, func() error {
		return pc.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	})
}

// BenchmarkDynamicPartitionCall measures a call on a DynamicPartitionChannel with a 3-partition
// and a 4-partition scheme over two loopback servers (brpc's dynamic_partition_echo).
func BenchmarkDynamicPartitionCall(b *testing.B) {
	a, c := startEcho(b, nil), startEcho(b, nil)
	lines := []string{a + " 0/3", a + " 1/3", a + " 2/3", c + " 0/4", c + " 1/4", c + " 2/4", c + " 3/4"}
	sys := newSystem(b)
	d, err := combo.NewDynamicPartitionChannel(sys, combo.SlashParser{}, partitionList(b, lines),
		&combo.PartitionOptions{Timeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	benchCalls(b, func() error {
		return d.Call(context.Background(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	})
}
