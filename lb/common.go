package lb

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/troupe-rpc/troupe/wire"
)

func errNoData() error { return wire.Errorf(wire.ENODATA, "the server list is empty") }

func errHostDown() error { return wire.Errorf(wire.EHOSTDOWN, "no usable server") }

func errReject() error {
	return wire.Errorf(wire.EREJECT, "rejected by the cluster-recovery policy")
}

// excluded reports whether r excludes addr. Servers are matched by address, as brpc matches them
// by socket: the same address under another tag is the same server.
func excluded(r *Request, addr string) bool {
	if r == nil {
		return false
	}
	for i := range r.Excluded {
		if r.Excluded[i].Addr == addr {
			return true
		}
	}
	return false
}

// upIndices returns the indices of the servers that are not Down.
func upIndices(servers []Server) []int32 {
	up := make([]int32, 0, len(servers))
	for i := range servers {
		if !servers[i].Down {
			up = append(up, int32(i))
		}
	}
	return up
}

// countUp returns the number of servers that are not Down.
func countUp(servers []Server) int {
	n := 0
	for i := range servers {
		if !servers[i].Down {
			n++
		}
	}
	return n
}

// nextUpTable returns, for each index, the first index at or after it, cyclically, of a server
// that is not Down; nil when there is none.
func nextUpTable(servers []Server) []int32 {
	up := slices.IndexFunc(servers, func(s Server) bool { return !s.Down }) // after the end
	if up < 0 {
		return nil
	}
	next := make([]int32, len(servers))
	for i := len(servers) - 1; i >= 0; i-- {
		if !servers[i].Down {
			up = i
		}
		next[i] = int32(up)
	}
	return next
}

// coprimeStride returns a random stride in [1, m) coprime with m (1 when m ≤ 2), so that
// stepping by it from any start visits all m positions.
func coprimeStride(m int) int {
	if m <= 2 {
		return 1
	}
	s := 1 + rand.IntN(m-1)
	for gcd(uint64(s), uint64(m)) != 1 {
		s++ // m−1 is always coprime with m, so this stops below m
	}
	return s
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// clock is the source of time of a balancer; tests replace it.
type clock func() time.Time
