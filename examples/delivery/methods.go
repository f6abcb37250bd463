package main

import (
	"context"
	"fmt"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/combo"
)

// runMethods calls the servers at addrs through one client with a strategy per method, as the
// documentation's MethodBuilder appendix does: GetBoxes fans out over the hashing partitioner,
// GetBox goes to one logical partition of the custom partitioner, each method with its own
// timeout. It returns the counters of both partitioners, prefixed "hashing_" and "custom_".
func runMethods(sys *actors.System, addrs []string, c config) (map[string]int64, error) {
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
	p, err := newCustom(sys, chans, c.timeout)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	mc, err := combo.NewMethodBuilder(sys).
		Method(methodGetBoxes, combo.MethodConfig{Channel: h, Timeout: c.timeout}).
		Method(methodGetBox, combo.MethodConfig{Channel: p, Timeout: c.timeout / 2, MaxRetry: 1}).
		Build()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(c.out, "\nmethods: one client, GetBoxes fanned out by the hashing partitioner, GetBox sent to one logical partition of the custom partitioner\n")
	stats := func() map[string]int64 {
		out := map[string]int64{}
		for k, v := range h.Stats() {
			out["hashing_"+k] = v
		}
		for k, v := range p.Stats() {
			out["custom_"+k] = v
		}
		out["fan_out"] = out["hashing_fan_out"] // what getAll reports: GetBoxes' sub-calls
		return out
	}
	cl := &client{name: "methods", ch: mc, stats: stats}
	cl.where = func(name string) string {
		if cl.method == methodGetBox {
			return fmt.Sprintf("partition=%d", lookUp(name))
		}
		return fmt.Sprintf("partition_of=%d", h.PartitionOf(name))
	}
	ctx := context.Background()
	cl.method = methodGetBox
	if err := cl.getEach(ctx, c); err != nil {
		return nil, err
	}
	cl.method = methodGetBoxes
	if err := cl.getAll(ctx, c); err != nil {
		return nil, err
	}
	out := stats()
	delete(out, "fan_out")
	return out, nil
}
