// Command delivery is the DeliveryService of Finagle's partition-aware client documentation on
// troupe. It starts 3 DeliveryService servers on loopback, server i being shard i, whose boxes
// say which shard served them ("shard 1 at 127.0.0.1:40123"), and calls them through four
// partitioning clients, each calling GetBox once per address of -names and GetBoxes once with
// all of them:
//
//   - hashing: a [combo.HashingPartitioner] over the 3 shards. GetBox is keyed by the address's
//     name; GetBoxes is split into one sub-request per name, the sub-requests whose names hash
//     to the same partition are merged into one, and the partitions' boxes are concatenated.
//     Each box is printed with the partition the ring gives its name (partition_of), which is
//     the shard that served it. A GetBoxes call with a wrong passcode shows the merger passing
//     the servers' failure on when no partition succeeded.
//   - custom: a [combo.CustomPartitioner] with logical partitions, the documentation's
//     getLogicalPartition scaled down to 3 instances: instance 0 serves partitions 0 and 1,
//     instance 1 serves partition 1, instance 2 serves partition 2. A name's partition comes
//     from its key range (before "i": 0, before "q": 1, the rest: 2).
//   - methods: one client with a strategy per method ([combo.MethodBuilder], the documentation's
//     MethodBuilder appendix): GetBoxes fans out over the hashing partitioner, GetBox goes to
//     one logical partition of the custom partitioner, each with its own timeout.
//   - cluster: a hashing partitioner that follows a naming file listing the servers with their
//     shard ids as tags ([combo.Shards]): the file lists shards 0 and 1, then shard 2 joins, and
//     only the names that move to shard 2 change partition.
//
// The calls for partition 1 alternate between its instances, 0 and 1, which the custom client
// sums up as
//
//	custom partition 1 was served by instances [0 1 0 1 0], call after call
//
// Every address line reads
//
//	hashing GetBoxes name=ivan partition_of=2 served_by="shard 2 at 127.0.0.1:40125" item="parcel for ivan"
//
// and the run ends with each client's counters ([combo.HashingPartitioner.Stats],
// [combo.CustomPartitioner.Stats]):
//
//	hashing stats: calls=10 fan_out=14 merge_failures=0 reshards=0 ring_changes=0 sub_call_failures=3
//
// It needs no flags, stops by itself, and exits non-zero when a call fails unexpectedly.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/troupe-rpc/troupe/actors"
)

// shards is the number of DeliveryService servers.
const shards = 3

type config struct {
	names    []string      // the addresses' names, in the order they are asked for
	passcode int           // what the servers accept and the clients send, thrift's i8
	timeout  time.Duration // of each partitioned call
	out      io.Writer     // nil: standard output
}

func main() {
	var c config
	names := flag.String("names", "alice,bob,ivan,judy,oscar,peggy,trent,walter", "comma-separated names of the addresses to look up")
	flag.IntVar(&c.passcode, "passcode", 7, "the passcode the servers accept and the clients send (-128..127, thrift's i8)")
	timeoutMs := flag.Int("timeout_ms", 1000, "timeout of each partitioned call in milliseconds")
	flag.Parse()
	c.names = splitNames(*names)
	c.timeout = time.Duration(*timeoutMs) * time.Millisecond
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "delivery:", err)
		os.Exit(1)
	}
}

// splitNames returns the non-empty names of a comma-separated list.
func splitNames(list string) []string {
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// clientRun runs one partitioning client against the servers at addrs (shard i at addrs[i]) and
// returns its partitioner's counters.
type clientRun func(sys *actors.System, addrs []string, c config) (map[string]int64, error)

// run starts the servers, runs every client, prints their partitioners' counters, and stops
// everything it started.
func run(c config) (err error) {
	if len(c.names) == 0 || c.passcode < -128 || c.passcode > 127 || c.timeout <= 0 {
		return errors.New("-names must name an address, -passcode be in -128..127 and -timeout_ms be positive")
	}
	// The partitioning clients, run one after the other on the same servers.
	clients := []struct {
		name string
		run  clientRun
	}{
		{"hashing", runHashing},
		{"custom", runCustom},
		{"methods", runMethods},
		{"cluster", runCluster},
	}
	if c.out == nil {
		c.out = os.Stdout
	}
	servers, err := startShards(shards, int32(c.passcode))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopShards(servers)) }()
	for _, s := range servers {
		fmt.Fprintf(c.out, "shard %d at %s\n", s.id, s.addr)
	}
	sys, err := actors.NewSystem(nil)
	if err != nil {
		return err
	}
	defer sys.Shutdown()
	stats := make([]map[string]int64, len(clients))
	for i, cl := range clients {
		if stats[i], err = cl.run(sys, shardAddrs(servers), c); err != nil {
			return fmt.Errorf("%s: %w", cl.name, err)
		}
	}
	fmt.Fprintln(c.out)
	for i, cl := range clients {
		fmt.Fprintf(c.out, "%s stats: %s\n", cl.name, formatStats(stats[i]))
	}
	return nil
}

// formatStats returns counters as "name=value" pairs, sorted by name.
func formatStats(stats map[string]int64) string {
	keys := make([]string, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, stats[k])
	}
	return b.String()
}
