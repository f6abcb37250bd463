package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/examples/delivery/deliverypb"
)

// runCustom calls the servers at addrs (instance i at addrs[i]) through a CustomPartitioner with
// logical partitions: GetBox for each name, then GetBoxes for all of them. It returns the
// partitioner's counters.
func runCustom(sys *actors.System, addrs []string, c config) (map[string]int64, error) {
	chans, err := dial(sys, addrs)
	if err != nil {
		return nil, err
	}
	defer closeAll(chans)
	p, err := newCustom(sys, chans, c.timeout)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	fmt.Fprintf(c.out, "\ncustom: a CustomPartitioner; names before \"i\" are in partition 0, before \"q\" in 1, the rest in 2; ")
	for i := range chans {
		fmt.Fprintf(c.out, "instance %d serves %v", i, logicalPartitions(i))
		if i < len(chans)-1 {
			fmt.Fprint(c.out, ", ")
		}
	}
	fmt.Fprintln(c.out)
	cl := &client{name: "custom", ch: p, stats: p.Stats,
		where: func(name string) string { return fmt.Sprintf("partition=%d", lookUp(name)) }}
	ctx := context.Background()
	if err := cl.getEach(ctx, c); err != nil {
		return nil, err
	}
	if err := cl.getAll(ctx, c); err != nil {
		return nil, err
	}
	for id := range chans {
		if served := servedBy(cl.boxes, id); len(served) > 0 {
			fmt.Fprintf(c.out, "custom partition %d was served by instances %v, call after call\n", id, served)
		}
	}
	return p.Stats(), nil
}

// servedBy returns the instance that served a partition in each call that asked it for boxes,
// in the order of the calls.
func servedBy(boxes []gotBox, partition int) []int {
	var shards []int
	last := -1
	for _, b := range boxes {
		var shard int
		if b.call == last || lookUp(b.box.GetAddrInfo().GetName()) != partition {
			continue
		}
		if _, err := fmt.Sscanf(b.box.GetServedBy(), "shard %d", &shard); err == nil {
			shards = append(shards, shard)
			last = b.call
		}
	}
	return shards
}

// newCustom returns a CustomPartitioner over instances (shard i is instances[i]) serving the
// logical partitions of logicalPartitions, which knows how to map GetBox and GetBoxes onto them:
// Finagle's getPartitionIdAndRequest and getBoxesRepMerger.
func newCustom(sys *actors.System, instances []actors.Channel, timeout time.Duration) (*combo.CustomPartitioner, error) {
	byShard := make(map[int]actors.Channel, len(instances))
	for i, ch := range instances {
		byShard[i] = ch
	}
	return combo.NewCustomPartitioner(sys, byShard, map[string]combo.CustomMethod{
		methodGetBox:   {Partition: partitionGetBox},
		methodGetBoxes: {Partition: partitionGetBoxes, MergeResponses: mergeBoxes},
	}, &combo.CustomOptions{Instances: logicalPartitions, Timeout: timeout})
}

// logicalPartitions is the documentation's getLogicalPartition for 3 instances: instance 0
// serves partitions 0 and 1, instance 1 serves partition 1, instance 2 serves partition 2.
func logicalPartitions(shard int) []int {
	switch shard {
	case 0:
		return []int{0, 1}
	case 1:
		return []int{1}
	case 2:
		return []int{2}
	}
	return nil
}

// lookUp returns the logical partition of a name by key range: names before "i" are in
// partition 0, names before "q" in partition 1, the rest in partition 2.
func lookUp(name string) int {
	switch name = strings.ToLower(name); {
	case name < "i":
		return 0
	case name < "q":
		return 1
	}
	return 2
}

// partitionGetBox sends a GetBox request to its address's partition.
func partitionGetBox(_ context.Context, req proto.Message) (map[int]proto.Message, error) {
	r, ok := req.(*deliverypb.GetBoxRequest)
	if !ok {
		return nil, fmt.Errorf("GetBox: request is a %T", req)
	}
	return map[int]proto.Message{lookUp(r.GetAddrInfo().GetName()): r}, nil
}

// partitionGetBoxes groups a GetBoxes request's addresses by partition, one sub-request each
// with the passcode.
func partitionGetBoxes(_ context.Context, req proto.Message) (map[int]proto.Message, error) {
	r, ok := req.(*deliverypb.GetBoxesRequest)
	if !ok {
		return nil, fmt.Errorf("GetBoxes: request is a %T", req)
	}
	subs := map[int]*deliverypb.GetBoxesRequest{}
	for _, a := range r.GetListAddrInfo() {
		id := lookUp(a.GetName())
		if subs[id] == nil {
			subs[id] = &deliverypb.GetBoxesRequest{Passcode: r.Passcode}
		}
		subs[id].ListAddrInfo = append(subs[id].ListAddrInfo, a)
	}
	out := make(map[int]proto.Message, len(subs))
	for id, sub := range subs {
		out[id] = sub
	}
	return out, nil
}
