package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/examples/delivery/deliverypb"
	"github.com/troupe-rpc/troupe/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	boxLine   = regexp.MustCompile(`^(hashing|custom|methods) (GetBox|GetBoxes) +name=(\S+) (?:partition_of|partition)=(\d+) served_by="shard (\d+) at [^"]+" item="parcel for (\S+)"$`)
	wrongLine = regexp.MustCompile(`^hashing GetBoxes passcode=-?\d+: (\d+) sub-calls refused, the call failed with .*\[EREQUEST 1003\]: .*wrong passcode`)
	statsLine = regexp.MustCompile(`^(hashing|custom|methods|cluster) stats: (.*)$`)
)

// served is one address line of the output.
type served struct {
	client, method, name string
	partition, shard     int
}

// output is what a run printed, parsed.
type output struct {
	boxes   []served
	refused int                         // sub-calls refused for the wrong passcode; -1: no such line
	stats   map[string]map[string]int64 // client -> counter -> value
}

func parseOutput(t *testing.T, out string) output {
	t.Helper()
	o := output{refused: -1, stats: map[string]map[string]int64{}}
	for line := range strings.SplitSeq(out, "\n") {
		if m := boxLine.FindStringSubmatch(line); m != nil {
			if m[3] != m[6] {
				t.Errorf("line %q: the box is for %q, want %q", line, m[6], m[3])
			}
			part, _ := strconv.Atoi(m[4])
			shard, _ := strconv.Atoi(m[5])
			o.boxes = append(o.boxes, served{client: m[1], method: m[2], name: m[3], partition: part, shard: shard})
		} else if m := wrongLine.FindStringSubmatch(line); m != nil {
			o.refused, _ = strconv.Atoi(m[1])
		} else if m := statsLine.FindStringSubmatch(line); m != nil {
			o.stats[m[1]] = parseStats(t, m[2])
		}
	}
	return o
}

func parseStats(t *testing.T, s string) map[string]int64 {
	t.Helper()
	stats := map[string]int64{}
	for kv := range strings.FieldsSeq(s) {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			t.Fatalf("stats %q: %q is not name=number", s, kv)
		}
		stats[k] = n
	}
	return stats
}

func TestDelivery(t *testing.T) {
	names := []string{"alice", "bob", "ivan", "judy", "oscar", "peggy", "trent", "walter", "Xavier", "0day"}
	var buf bytes.Buffer
	if err := run(config{names: names, passcode: 7, timeout: 5 * time.Second, out: &buf}); err != nil {
		t.Fatalf("run() = %v\n%s", err, buf.String())
	}
	out := buf.String()
	o := parseOutput(t, out)

	for _, client := range []string{"hashing", "custom", "methods"} {
		for _, method := range []string{"GetBox", "GetBoxes"} {
			var got []string
			for _, b := range o.boxes {
				if b.client == client && b.method == method {
					got = append(got, b.name)
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(names))
			if !slices.Equal(got, want) {
				t.Errorf("%s %s boxes for %v, want one for each of %v", client, method, got, want)
			}
		}
	}

	shardOf := map[string]int{}
	partition1 := map[int]bool{}
	for _, b := range o.boxes {
		switch b.client {
		case "hashing":
			if b.shard != b.partition {
				t.Errorf("hashing %s of %s served by shard %d, want PartitionOf = %d", b.method, b.name, b.shard, b.partition)
			}
			if s, ok := shardOf[b.name]; ok && s != b.shard {
				t.Errorf("hashing: %s served by shards %d and %d, want the same shard every time", b.name, s, b.shard)
			}
			shardOf[b.name] = b.shard
		case "methods": // GetBox by the custom partitioner, GetBoxes by the hashing one
			if b.method == "GetBoxes" {
				if b.shard != b.partition || b.shard != shardOf[b.name] {
					t.Errorf("methods GetBoxes of %s served by shard %d, want PartitionOf = %d", b.name, b.shard, b.partition)
				}
			} else if b.partition != lookUp(b.name) || !slices.Contains(instancesOf(b.partition), b.shard) {
				t.Errorf("methods GetBox of %s (partition %d) served by instance %d, want partition %d on one of %v",
					b.name, b.partition, b.shard, lookUp(b.name), instancesOf(lookUp(b.name)))
			}
		case "custom":
			if b.partition != lookUp(b.name) {
				t.Errorf("custom %s of %s in partition %d, want lookUp = %d", b.method, b.name, b.partition, lookUp(b.name))
			}
			if !slices.Contains(instancesOf(b.partition), b.shard) {
				t.Errorf("custom %s of %s (partition %d) served by instance %d, want one of %v",
					b.method, b.name, b.partition, b.shard, instancesOf(b.partition))
			}
			if b.partition == 1 {
				partition1[b.shard] = true
			}
		}
	}
	if !partition1[0] || !partition1[1] {
		t.Errorf("custom: partition 1 served by instances %v, want both 0 and 1", partition1)
	}

	if o.refused < 1 {
		t.Errorf("no line says the wrong passcode was refused with EREQUEST by at least one sub-call:\n%s", out)
	}
	if got := o.stats["hashing"]["sub_call_failures"]; got != int64(o.refused) {
		t.Errorf("hashing sub_call_failures = %d, want %d (the wrong passcode's sub-calls only)", got, o.refused)
	}
	if got := o.stats["hashing"]["calls"]; got != int64(len(names)+2) {
		t.Errorf("hashing calls = %d, want %d", got, len(names)+2)
	}
	if s := o.stats["custom"]; s["calls"] != int64(len(names)+1) || s["sub_call_failures"] != 0 || s["merge_failures"] != 0 {
		t.Errorf("custom stats = %v, want calls=%d and no failure", s, len(names)+1)
	}
	if s := o.stats["methods"]; s["custom_calls"] != int64(len(names)) || s["hashing_calls"] != 1 {
		t.Errorf("methods stats = %v, want %d GetBox calls on the custom partitioner and 1 GetBoxes on the hashing one", s, len(names))
	}
	if s := o.stats["cluster"]; s["reshards"] != 1 || s["calls"] != 2 || s["sub_call_failures"] != 0 {
		t.Errorf("cluster stats = %v, want 1 reshard and 2 calls without failure", s)
	}
	if !regexp.MustCompile(`(?m)^cluster: shard 2 joined; shards \[0 1 2\]; names that moved: `).MatchString(out) {
		t.Errorf("no line tells the cluster grew to 3 shards")
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// instancesOf returns the instances serving a logical partition.
func instancesOf(partition int) []int {
	var out []int
	for shard := range shards {
		if slices.Contains(logicalPartitions(shard), partition) {
			out = append(out, shard)
		}
	}
	return out
}

func TestWrongPasscode(t *testing.T) {
	servers, err := startShards(shards, 7)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stopShards(servers); err != nil {
			t.Errorf("stopShards() = %v", err)
		}
	})
	sys := actorstest.NewSystem(t)
	chans, err := dial(sys, shardAddrs(servers))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(chans) })
	h, err := newHashing(sys, chans, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	p, err := newCustom(sys, chans, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	names := []string{"alice", "ivan", "trent"}
	getBox := func() (proto.Message, proto.Message) {
		return &deliverypb.GetBoxRequest{AddrInfo: addrInfo(0, "ivan"), Passcode: proto.Int32(8)}, &deliverypb.Box{}
	}
	getBoxes := func() (proto.Message, proto.Message) {
		return boxesRequest(names, 8), &deliverypb.GetBoxesResponse{}
	}
	tests := []struct {
		name   string
		ch     actors.Channel
		method string
		msgs   func() (req, resp proto.Message)
		remote bool // the error is the server's own, passed on by the partitioner
	}{
		{"plain GetBox", chans[1], methodGetBox, getBox, true},
		{"plain GetBoxes", chans[2], methodGetBoxes, getBoxes, true},
		{"hashing GetBox", h, methodGetBox, getBox, true},
		{"hashing GetBoxes", h, methodGetBoxes, getBoxes, true},
		{"custom GetBox", p, methodGetBox, getBox, true},
		{"custom GetBoxes", p, methodGetBoxes, getBoxes, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, resp := tt.msgs()
			err := tt.ch.Call(context.Background(), tt.method, req, resp, nil)
			if !errors.Is(err, wire.EREQUEST) || wire.ErrnoOf(err) != wire.EREQUEST {
				t.Fatalf("Call(%s, passcode 8) = %v (code %v), want EREQUEST", tt.method, err, wire.ErrnoOf(err))
			}
			if !strings.Contains(err.Error(), "wrong passcode 8") {
				t.Errorf("Call(%s, passcode 8) = %v, want the server's text \"wrong passcode 8\"", tt.method, err)
			}
			var we *wire.Error
			if tt.remote && (!errors.As(err, &we) || !we.Remote) {
				t.Errorf("Call(%s, passcode 8) = %#v, want an error the server sent", tt.method, err)
			}
		})
	}
	if s := h.Stats(); s["sub_call_failures"] == 0 {
		t.Errorf("hashing Stats() = %v, want the refused sub-calls counted", s)
	}
}

func TestSplitAndMerge(t *testing.T) {
	req := boxesRequest([]string{"bob", "alice", "bob"}, 7)
	subs, err := splitGetBoxes(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := subs["bob"].(*deliverypb.GetBoxesRequest); len(subs) != 2 || len(got.GetListAddrInfo()) != 2 || got.GetPasscode() != 7 {
		t.Errorf("splitGetBoxes(bob, alice, bob) = %v, want 2 sub-requests, bob's with both bob addresses and passcode 7", subs)
	}
	merged, err := mergeGetBoxes([]proto.Message{subs["alice"], subs["bob"]})
	if err != nil {
		t.Fatal(err)
	}
	if m := merged.(*deliverypb.GetBoxesRequest); len(m.GetListAddrInfo()) != 3 || m.GetPasscode() != 7 {
		t.Errorf("mergeGetBoxes(alice, bob) = %v, want 3 addresses and passcode 7", m)
	}
	byPart, err := partitionGetBoxes(context.Background(), boxesRequest([]string{"alice", "ivan", "judy", "zoe"}, 7))
	if err != nil {
		t.Fatal(err)
	}
	if len(byPart) != 3 || len(byPart[1].(*deliverypb.GetBoxesRequest).GetListAddrInfo()) != 2 {
		t.Errorf("partitionGetBoxes(alice, ivan, judy, zoe) = %v, want partitions 0, 1 (2 addresses), 2", byPart)
	}

	first, second := errors.New("first"), errors.New("second")
	if _, err := mergeBoxes(nil, []error{first, second}); err != first {
		t.Errorf("mergeBoxes(no successes) = %v, want the first failure", err)
	}
	one := &deliverypb.GetBoxesResponse{Boxes: []*deliverypb.Box{{Item: proto.String("a")}}}
	two := &deliverypb.GetBoxesResponse{Boxes: []*deliverypb.Box{{Item: proto.String("b")}, {Item: proto.String("c")}}}
	out, err := mergeBoxes([]proto.Message{one, two}, []error{first})
	if err != nil || len(out.(*deliverypb.GetBoxesResponse).GetBoxes()) != 3 {
		t.Errorf("mergeBoxes(1 + 2 boxes, a failure) = %v, %v, want 3 boxes", out, err)
	}
}

func TestDeliveryBadArguments(t *testing.T) {
	for _, c := range []config{
		{names: nil, passcode: 7, timeout: time.Second},
		{names: []string{"a"}, passcode: 300, timeout: time.Second},
		{names: []string{"a"}, passcode: 7, timeout: 0},
	} {
		if err := run(c); err == nil {
			t.Errorf("run(%+v) = nil, want an error", c)
		}
	}
	if got := splitNames(" a, ,b,"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("splitNames(\" a, ,b,\") = %q, want [a b]", got)
	}
}
