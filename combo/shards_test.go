package combo_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// loadUntil runs callers goroutines calling fn(caller, i) until stop is closed, and returns a
// wait that returns the number of failed calls and the first failure.
func loadUntil(callers int, stop <-chan struct{}, fn func(caller, i int) error) (wait func() (int64, error)) {
	var fails atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := fn(c, i); err != nil {
					fails.Add(1)
					first.CompareAndSwap(nil, err)
				}
			}
		})
	}
	return func() (int64, error) {
		wg.Wait()
		err, _ := first.Load().(error)
		return fails.Load(), err
	}
}

// shardServers starts n echo servers, server i answering with server_index i, and returns the
// naming file lines that give server i shard id i.
func shardServers(t *testing.T, n int) ([]*echoservice.Service, []string) {
	t.Helper()
	svcs := make([]*echoservice.Service, n)
	lines := make([]string, n)
	for i := range n {
		svcs[i] = &echoservice.Service{Index: int32(i)}
		lines[i] = startEcho(t, svcs[i]) + " " + strconv.Itoa(i)
	}
	return svcs, lines
}

// served counts the requests svcs answered.
func served(svcs []*echoservice.Service) int64 {
	var n int64
	for _, s := range svcs {
		n += s.Requests()
	}
	return n
}

func newShards(t *testing.T, sys *actors.System, path string) *combo.Shards {
	t.Helper()
	s, err := combo.NewShards(sys, "file://"+path, &combo.ShardOptions{Channel: actors.ChannelOptions{MaxRetry: actors.NoRetry}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A hashing partitioner built on Shards grows from 3 to 4 partitions while 8 callers keep
// calling: no call fails, every key is answered by its partition before the change or by the new
// one (consistent hashing moves keys only to the newcomer), and the new partition takes keys.
func TestShardsHashingReshardUnderLoad(t *testing.T) {
	svcs, lines := shardServers(t, 4)
	path := filepath.Join(t.TempDir(), "servers")
	writeList(t, path, lines[:3]...)
	sys := newSystem(t)
	shards := newShards(t, sys, path)
	if got := shards.IDs(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("IDs = %v, want [0 1 2]", got)
	}
	h, err := shards.NewHashingPartitioner(keyedEcho(), &combo.HashingOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	const keys = 200
	before := make([]int, keys)
	for k := range keys {
		before[k] = h.PartitionOf(fmt.Sprintf("key-%d", k))
	}
	var wrong atomic.Int64
	var wrongMsg atomic.Value
	stop := make(chan struct{})
	wait := loadUntil(8, stop, func(caller, i int) error {
		k := (caller*7919 + i) % keys
		key := fmt.Sprintf("key-%d", k)
		msg, err := callKeys(t, h, key)
		if err != nil {
			return err
		}
		if msg != fmt.Sprintf("%d:%s", before[k], key) && msg != "3:"+key {
			wrong.Add(1)
			wrongMsg.CompareAndSwap(nil, msg)
		}
		return nil
	})
	waitFor(t, "calls on the first three shards", func() bool { return served(svcs[:3]) > 300 })
	writeList(t, path, lines...)
	waitFor(t, "the fourth partition", func() bool { return len(h.Partitions()) == 4 })
	before3 := svcs[3].Requests()
	waitFor(t, "calls on the fourth partition", func() bool { return svcs[3].Requests() > before3+100 })
	close(stop)
	if n, err := wait(); n != 0 {
		t.Fatalf("%d calls failed while resharding; first: %v", n, err)
	}
	if n := wrong.Load(); n != 0 {
		t.Fatalf("%d answers came from a partition the key never mapped to, e.g. %q", n, wrongMsg.Load())
	}
	moved := 0
	for k := range keys {
		switch p := h.PartitionOf(fmt.Sprintf("key-%d", k)); p {
		case before[k]:
		case 3:
			moved++
		default:
			t.Fatalf("key-%d moved from partition %d to %d, want it to stay or go to 3", k, before[k], p)
		}
	}
	if moved < keys/8 || moved > keys/2 {
		t.Errorf("%d of %d keys moved to the new partition, want about a quarter", moved, keys)
	}
	if s := h.Stats(); s["reshards"] != 1 {
		t.Errorf("Stats = %v, want 1 reshard", s)
	}

	// The fourth shard leaves: its keys go back where they were, its channel closes and its
	// connection goes.
	addr3 := strings.Fields(lines[3])[0]
	hasSocket := func(addr string) bool {
		return sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "socket" && n.Name == addr }) != nil
	}
	hasShardChannel := func(id int) bool {
		return sys.Inspect().Find(func(n *actors.Node) bool {
			return n.Kind == "channel" && strings.Contains(n.State+" ", fmt.Sprintf("→ shard://%d ", id))
		}) != nil
	}
	writeList(t, path, lines[:3]...)
	waitFor(t, "three partitions again", func() bool { return len(h.Partitions()) == 3 })
	for k := range keys {
		if p := h.PartitionOf(fmt.Sprintf("key-%d", k)); p != before[k] {
			t.Fatalf("after the shard left, key-%d routes to %d, want %d", k, p, before[k])
		}
	}
	waitFor(t, "the shard that left to lose its channel and socket", func() bool { return !hasShardChannel(3) && !hasSocket(addr3) })

	// It comes back: a new channel serves it.
	writeList(t, path, lines...)
	waitFor(t, "four partitions again", func() bool { return len(h.Partitions()) == 4 })
	k3 := -1
	for k := range keys {
		if h.PartitionOf(fmt.Sprintf("key-%d", k)) == 3 {
			k3 = k
			break
		}
	}
	if k3 < 0 {
		t.Fatal("no key maps to partition 3")
	}
	if msg, err := callKeys(t, h, fmt.Sprintf("key-%d", k3)); err != nil || msg != fmt.Sprintf("3:key-%d", k3) {
		t.Fatalf("call to the shard that came back = %q, %v", msg, err)
	}
	noCallsLeft(t, sys)
}

// schemaEcho partitions an echo call's key onto one of the logical partitions of the schema the
// call started with (SchemaFromContext): partition = key mod the number of partitions.
func schemaEcho() map[string]combo.CustomMethod {
	return map[string]combo.CustomMethod{echoservice.Method: {
		Partition: func(ctx context.Context, req proto.Message) (map[int]proto.Message, error) {
			s, ok := combo.SchemaFromContext(ctx)
			if !ok {
				return nil, fmt.Errorf("no schema in the Partition context")
			}
			k, err := strconv.Atoi(req.(*echopb.EchoRequest).GetMessage())
			if err != nil {
				return nil, err
			}
			return map[int]proto.Message{s.Partitions[k%len(s.Partitions)]: req}, nil
		},
	}}
}

// A custom partitioner built on Shards follows the cluster from 3 to 4 instances under load
// (clusterResharding): with the partition function reading the schema of its call, no call
// fails and the new instance serves its partition.
func TestShardsCustomReshardUnderLoad(t *testing.T) {
	svcs, lines := shardServers(t, 4)
	path := filepath.Join(t.TempDir(), "servers")
	writeList(t, path, lines[:3]...)
	sys := newSystem(t)
	shards := newShards(t, sys, path)
	p, err := shards.NewCustomPartitioner(schemaEcho(), &combo.CustomOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got := p.Partitions(); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("Partitions = %v, want [0 1 2]", got)
	}
	stop := make(chan struct{})
	wait := loadUntil(8, stop, func(caller, i int) error {
		var resp echopb.EchoResponse
		return p.Call(context.Background(), echoservice.Method, echoReq(strconv.Itoa(caller+8*i)), &resp, nil)
	})
	waitFor(t, "calls on the first three shards", func() bool { return served(svcs[:3]) > 300 })
	writeList(t, path, lines...)
	waitFor(t, "the fourth instance", func() bool { return len(p.Partitions()) == 4 })
	before3 := svcs[3].Requests()
	waitFor(t, "calls on the fourth instance", func() bool { return svcs[3].Requests() > before3+100 })
	close(stop)
	if n, err := wait(); n != 0 {
		t.Fatalf("%d calls failed while resharding; first: %v", n, err)
	}
	if s := p.Stats(); s["reshards"] != 1 || s["sub_call_failures"] != 0 {
		t.Errorf("Stats = %v, want 1 reshard and no failure", s)
	}
	noCallsLeft(t, sys)
}

// Without a shard, a hashing partitioner built on Shards fails calls with ENODATA, and serves
// once a shard appears.
func TestShardsEmpty(t *testing.T) {
	_, lines := shardServers(t, 1)
	path := filepath.Join(t.TempDir(), "servers")
	writeList(t, path, "# no server yet", "127.0.0.1:1 banana")
	sys := newSystem(t)
	shards := newShards(t, sys, path)
	h, err := shards.NewHashingPartitioner(keyedEcho(), &combo.HashingOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := callKeys(t, h, "a"); wire.ErrnoOf(err) != wire.ENODATA {
		t.Fatalf("call without shards: %v, want ENODATA", err)
	}
	if p := h.PartitionOf("a"); p != -1 {
		t.Errorf("PartitionOf without partitions = %d, want -1", p)
	}
	writeList(t, path, lines...)
	waitFor(t, "a shard", func() bool { return len(h.Partitions()) == 1 })
	if msg, err := callKeys(t, h, "a", "b"); err != nil || msg != "0:a,b" {
		t.Fatalf("call = %q, %v; want \"0:a,b\"", msg, err)
	}
}

// Bad naming targets are errors that name the problem.
func TestShardsBadTarget(t *testing.T) {
	sys := newSystem(t)
	for _, target := range []string{"nope://x", "file://", ""} {
		if _, err := combo.NewShards(sys, target, nil); err == nil {
			t.Errorf("NewShards(%q) succeeded", target)
		} else if !strings.Contains(err.Error(), "combo") {
			t.Errorf("NewShards(%q) = %v, want an error naming the package", target, err)
		}
	}
	if _, err := combo.NewShards(nil, "list://127.0.0.1:1", nil); err == nil {
		t.Error("NewShards(nil System) succeeded")
	}
}
