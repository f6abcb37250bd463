package main

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/examples/delivery/deliverypb"
)

// runHashing calls the servers at addrs (shard i at addrs[i]) through a HashingPartitioner whose
// partition i is shard i: GetBox for each name, GetBoxes for all of them, and GetBoxes with a
// wrong passcode. It returns the partitioner's counters.
func runHashing(sys *actors.System, addrs []string, c config) (map[string]int64, error) {
	chans, err := dial(sys, addrs)
	if err != nil {
		return nil, err
	}
	defer closeAll(chans)
	h, err := newHashing(sys, chans, c.timeout)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	fmt.Fprintf(c.out, "\nhashing: a HashingPartitioner over %d partitions, partition i being shard i; a name's key picks its partition on the ring\n", len(chans))
	cl := &client{name: "hashing", ch: h, stats: h.Stats,
		where: func(name string) string { return fmt.Sprintf("partition_of=%d", h.PartitionOf(name)) }}
	ctx := context.Background()
	if err := cl.getEach(ctx, c); err != nil {
		return nil, err
	}
	if err := cl.getAll(ctx, c); err != nil {
		return nil, err
	}
	if err := cl.wrongPasscode(ctx, c); err != nil {
		return nil, err
	}
	return h.Stats(), nil
}

// newHashing returns a HashingPartitioner over partitions that knows how to split GetBox and
// GetBoxes: Finagle's getHashingKeyAndRequest, getBoxesReqMerger and getBoxesRepMerger.
func newHashing(sys *actors.System, partitions []actors.Channel, timeout time.Duration) (*combo.HashingPartitioner, error) {
	return combo.NewHashingPartitioner(sys, partitions, hashingMethods(), &combo.HashingOptions{Timeout: timeout})
}

// hashingMethods is how the hashing partitioners split GetBox and GetBoxes.
func hashingMethods() map[string]combo.PartitionedMethod {
	return map[string]combo.PartitionedMethod{
		methodGetBox: {Split: splitGetBox},
		methodGetBoxes: {
			Split:          splitGetBoxes,
			MergeRequests:  mergeGetBoxes,
			MergeResponses: mergeBoxes,
		},
	}
}

// splitGetBox keys a GetBox request by its address's name.
func splitGetBox(req proto.Message) (map[string]proto.Message, error) {
	r, ok := req.(*deliverypb.GetBoxRequest)
	if !ok {
		return nil, fmt.Errorf("GetBox: request is a %T", req)
	}
	return map[string]proto.Message{r.GetAddrInfo().GetName(): r}, nil
}

// splitGetBoxes makes one sub-request per name, with that name's addresses and the passcode.
func splitGetBoxes(req proto.Message) (map[string]proto.Message, error) {
	r, ok := req.(*deliverypb.GetBoxesRequest)
	if !ok {
		return nil, fmt.Errorf("GetBoxes: request is a %T", req)
	}
	subs := map[string]proto.Message{}
	for _, a := range r.GetListAddrInfo() {
		sub, _ := subs[a.GetName()].(*deliverypb.GetBoxesRequest)
		if sub == nil {
			sub = &deliverypb.GetBoxesRequest{Passcode: r.Passcode}
			subs[a.GetName()] = sub
		}
		sub.ListAddrInfo = append(sub.ListAddrInfo, a)
	}
	return subs, nil
}

// mergeGetBoxes combines the sub-requests bound for one partition: their addresses, in order,
// with the first one's passcode.
func mergeGetBoxes(reqs []proto.Message) (proto.Message, error) {
	out := &deliverypb.GetBoxesRequest{}
	for i, req := range reqs {
		r, ok := req.(*deliverypb.GetBoxesRequest)
		if !ok {
			return nil, fmt.Errorf("GetBoxes: sub-request is a %T", req)
		}
		if i == 0 {
			out.Passcode = r.Passcode
		}
		out.ListAddrInfo = append(out.ListAddrInfo, r.GetListAddrInfo()...)
	}
	return out, nil
}
