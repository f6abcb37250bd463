package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/examples/delivery/deliverypb"
)

// runCluster follows the cluster instead of a fixed list: a naming file lists the servers with
// their shard ids as tags ("127.0.0.1:40123 1"), combo.Shards keeps a channel per shard, and the
// hashing partitioner built on it reshards when the file changes. The file first lists shards 0
// and 1, then shard 2 joins: only names that move to shard 2 change partition. It returns the
// partitioner's counters.
func runCluster(sys *actors.System, addrs []string, c config) (map[string]int64, error) {
	dir, err := os.MkdirTemp("", "delivery")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "servers")
	if err := writeShards(path, addrs[:2]); err != nil {
		return nil, err
	}
	shards, err := combo.NewShards(sys, "file://"+path, nil)
	if err != nil {
		return nil, err
	}
	defer shards.Close()
	h, err := shards.NewHashingPartitioner(hashingMethods(), &combo.HashingOptions{Timeout: c.timeout})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	fmt.Fprintf(c.out, "\ncluster: a HashingPartitioner following the naming file %s; shards %v\n", path, h.Partitions())
	before := map[string]int{}
	for _, name := range c.names {
		before[name] = h.PartitionOf(name)
	}
	ctx := context.Background()
	if err := clusterBoxes(ctx, h, c); err != nil {
		return nil, err
	}

	if err := writeShards(path, addrs); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(5 * time.Second); len(h.Partitions()) != len(addrs); {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the partitioner did not follow the naming file to %d shards: %v", len(addrs), h.Partitions())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var moved []string
	for _, name := range c.names {
		switch now := h.PartitionOf(name); {
		case now == before[name]:
		case now == len(addrs)-1:
			moved = append(moved, fmt.Sprintf("%s %d→%d", name, before[name], now))
		default:
			return nil, fmt.Errorf("%s moved from shard %d to %d, not to the new shard", name, before[name], now)
		}
	}
	fmt.Fprintf(c.out, "cluster: shard %d joined; shards %v; names that moved: %s\n", len(addrs)-1, h.Partitions(), strings.Join(moved, ", "))
	if err := clusterBoxes(ctx, h, c); err != nil {
		return nil, err
	}
	return h.Stats(), nil
}

// clusterBoxes calls GetBoxes for every name and checks that each box came from the shard its
// name routes to now.
func clusterBoxes(ctx context.Context, h *combo.HashingPartitioner, c config) error {
	resp, err := deliverypb.NewDeliveryServiceClient(h).GetBoxes(ctx, boxesRequest(c.names, c.passcode), nil)
	if err != nil {
		return fmt.Errorf("GetBoxes: %w", err)
	}
	byShard := map[int][]string{}
	for _, b := range resp.GetBoxes() {
		var shard int
		name := b.GetAddrInfo().GetName()
		if _, err := fmt.Sscanf(b.GetServedBy(), "shard %d", &shard); err != nil || shard != h.PartitionOf(name) {
			return fmt.Errorf("the box of %s was served by %q, want shard %d", name, b.GetServedBy(), h.PartitionOf(name))
		}
		byShard[shard] = append(byShard[shard], name)
	}
	for _, shard := range slices.Sorted(maps.Keys(byShard)) {
		fmt.Fprintf(c.out, "cluster GetBoxes shard %d served %s\n", shard, strings.Join(byShard[shard], ","))
	}
	return nil
}

// writeShards replaces the naming file with addrs, server i tagged with its shard id i. The
// file is written beside and renamed, so the naming service never reads half of it.
func writeShards(path string, addrs []string) error {
	var b strings.Builder
	for i, addr := range addrs {
		fmt.Fprintf(&b, "%s %d\n", addr, i)
	}
	if err := os.WriteFile(path+".tmp", []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}
