package combo_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/combo"
)

// A partition channel is ready when its constructor returns, as brpc's after Init: the naming
// service's first list has reached every partition's channel, so Weight and the per-partition
// server counts are right at once, with no wait.

func TestPartitionChannelReadyWhenMade(t *testing.T) {
	addrs := []string{startEcho(t, nil), startEcho(t, nil), startEcho(t, nil)}
	path := filepath.Join(t.TempDir(), "servers")
	writeList(t, path, addrs[0]+" 0/3", addrs[1]+" 0/3", addrs[1]+" 1/3", addrs[2]+" 2/3")
	sys := newSystem(t)
	for run := range 10 {
		pc, err := combo.NewPartitionChannel(sys, 3, combo.SlashParser{}, "file://"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if w := pc.Weight(); w != 1 {
			t.Fatalf("run %d: Weight() right after NewPartitionChannel = %d, want 1 (the smallest partition's)", run, w)
		}
		if got := pc.PartitionServers(); !slices.Equal(got, []int{2, 1, 1}) {
			t.Fatalf("run %d: PartitionServers() = %v, want [2 1 1]", run, got)
		}
		for i, want := range []int64{2, 1, 1} {
			if got := partitionServers(sys, i, 3); got != want {
				t.Fatalf("run %d: partition %d's channel has %d servers right after NewPartitionChannel, want %d", run, i, got, want)
			}
		}
		node := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "partition channel" })
		if node == nil {
			t.Fatalf("Inspect shows no partition channel:\n%s", sys.Inspect())
		}
		if node.Counters["partitions"] != 3 || node.Counters["servers"] != 4 || node.Counters["weight"] != 1 || len(node.Children) != 3 {
			t.Fatalf("Inspect shows the partition channel with %v and %d children, want 3 partitions, 4 servers, weight 1, 3 children",
				node.Counters, len(node.Children))
		}
		for i, c := range node.Children {
			if want := []int64{2, 1, 1}[i]; c.Name != fmt.Sprintf("%d/3", i) || c.Counters["servers"] != want {
				t.Fatalf("Inspect's partition %d is %q with %v, want %d/3 with %d servers", i, c.Name, c.Counters, i, want)
			}
		}
		if err := pc.Close(); err != nil {
			t.Fatal(err)
		}
		if sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "partition channel" }) != nil {
			t.Fatalf("Inspect still shows the partition channel after Close")
		}
	}
	// The counts follow the naming service.
	pc, err := combo.NewPartitionChannel(sys, 3, combo.SlashParser{}, "file://"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	writeList(t, path, addrs[0]+" 0/3", addrs[1]+" 1/3", addrs[2]+" 1/3", addrs[2]+" 2/3", addrs[0]+" 2/3")
	waitFor(t, "the counts to follow the new list", func() bool { return slices.Equal(pc.PartitionServers(), []int{1, 2, 2}) })
}

func TestDynamicPartitionChannelReadyWhenMade(t *testing.T) {
	addrs := []string{startEcho(t, nil), startEcho(t, nil), startEcho(t, nil)}
	path := filepath.Join(t.TempDir(), "servers")
	writeList(t, path, addrs[0]+" 0/2", addrs[1]+" 1/2", addrs[2]+" 1/2",
		addrs[0]+" 0/3", addrs[1]+" 1/3", addrs[2]+" 2/3")
	sys := newSystem(t)
	for run := range 10 {
		d, err := combo.NewDynamicPartitionChannel(sys, combo.SlashParser{}, "file://"+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := d.PartitionServers()
		if len(got) != 2 || !slices.Equal(got[2], []int{1, 2}) || !slices.Equal(got[3], []int{1, 1, 1}) {
			t.Fatalf("run %d: PartitionServers() = %v, want map[2:[1 2] 3:[1 1 1]]", run, got)
		}
		for i, want := range []int64{1, 2} {
			if got := partitionServers(sys, i, 2); got != want {
				t.Fatalf("run %d: partition %d/2's channel has %d servers right after NewDynamicPartitionChannel, want %d", run, i, got, want)
			}
		}
		node := sys.Inspect().Find(func(n *actors.Node) bool { return n.Kind == "dynamic partition channel" })
		if node == nil {
			t.Fatalf("Inspect shows no dynamic partition channel:\n%s", sys.Inspect())
		}
		if node.Counters["schemes"] != 2 || node.Counters["servers"] != 6 || len(node.Children) != 2 {
			t.Fatalf("Inspect shows the dynamic partition channel with %v and %d children, want 2 schemes, 6 servers", node.Counters, len(node.Children))
		}
		two := node.Children[0]
		if two.Counters["partitions"] != 2 || two.Counters["servers"] != 3 || two.Counters["capacity"] != 1 ||
			len(two.Children) != 2 || two.Children[1].Counters["servers"] != 2 {
			t.Fatalf("Inspect's 2-partition scheme: %v with children %v, want 2 partitions, 3 servers, capacity 1, partition 1/2 with 2", two.Counters, two.Children)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
