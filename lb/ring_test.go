package lb_test

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/spaolacci/murmur3"

	"github.com/troupe-rpc/troupe/lb"
)

// murmur32 is MurmurHash3_x86_32 written out from Appleby's reference, to check the library and
// the ring against something independent.
func murmur32(data []byte, seed uint32) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	h := seed
	n := len(data) / 4 * 4
	for i := 0; i < n; i += 4 {
		k := binary.LittleEndian.Uint32(data[i:])
		h ^= bits.RotateLeft32(k*c1, 15) * c2
		h = bits.RotateLeft32(h, 13)*5 + 0xe6546b64
	}
	var k uint32
	switch tail := data[n:]; len(tail) {
	case 3:
		k ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		k ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		k ^= uint32(tail[0])
		h ^= bits.RotateLeft32(k*c1, 15) * c2
	}
	h ^= uint32(len(data))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	return h ^ h>>16
}

// murmurKeys are keys to compare murmur3 implementations on.
func murmurKeys() []string {
	return []string{"", "a", "ab", "abc", "abcd", "127.0.0.1:8000-0", "[::1]:8000-99"}
}

// TestMurmur3Reference checks the library's streaming hasher, which the ring uses, against
// murmur32 (murmur3.Sum32 is checked in murmur_norace_test.go: it cannot run under -race).
func TestMurmur3Reference(t *testing.T) {
	if got := murmur32([]byte("hello"), 0); got != 0x248bfa47 {
		t.Fatalf("murmur32(hello) = %#x, want 0x248bfa47", got)
	}
	for _, key := range murmurKeys() {
		m := murmur3.New32()
		m.Write([]byte(key))
		if got, want := m.Sum32(), murmur32([]byte(key), 0); got != want {
			t.Errorf("murmur3.New32 sum of %q = %#x, want %#x", key, got, want)
		}
	}
}

// expectedPoints computes a server's points from brpc's formulas, sorted.
func expectedPoints(h lb.Hasher, addr string, replicas int) []uint32 {
	var pts []uint32
	switch h {
	case lb.Murmur3:
		for i := range replicas {
			pts = append(pts, murmur32([]byte(addr+"-"+strconv.Itoa(i)), 0))
		}
	case lb.MD5:
		for i := range replicas {
			sum := md5.Sum([]byte(addr + "-" + strconv.Itoa(i)))
			pts = append(pts, uint32(sum[0])|uint32(sum[1])<<8|uint32(sum[2])<<16|uint32(sum[3])<<24)
		}
	case lb.Ketama:
		for i := range replicas / 4 {
			sum := md5.Sum([]byte(addr + "-" + strconv.Itoa(i)))
			for j := 0; j < 16; j += 4 {
				pts = append(pts, binary.LittleEndian.Uint32(sum[j:]))
			}
		}
	}
	slices.Sort(pts)
	return pts
}

func TestRingPoints(t *testing.T) {
	const first = 0xaf0055ea // MurmurHash3_x86_32("127.0.0.1:8000-0"), as murmur32 computes it
	if got := murmur32([]byte("127.0.0.1:8000-0"), 0); got != first {
		t.Fatalf(`murmur32("127.0.0.1:8000-0") = %#x, want %#x`, got, first)
	}
	for _, h := range []lb.Hasher{lb.Murmur3, lb.MD5, lb.Ketama} {
		for _, addr := range []string{"127.0.0.1:8000", "[::1]:8000"} {
			ring := lb.NewRing([]lb.ServerNode{{Addr: addr}}, 12, h)
			want := expectedPoints(h, addr, 12)
			var got []uint32
			for i := range ring.Len() {
				got = append(got, ring.Point(i).Hash)
			}
			if !slices.Equal(got, want) {
				t.Errorf("NewRing(%s, 12, %v) points = %x, want %x", addr, h, got, want)
			}
		}
	}
	ring := lb.NewRing([]lb.ServerNode{{Addr: "127.0.0.1:8000"}}, 0, lb.Murmur3)
	if i := ring.Search(first); ring.Len() != lb.DefaultReplicas || ring.Point(i).Hash != first {
		t.Errorf("default ring has %d points, Search(%#x) = %d, want %d points and the point %#x",
			ring.Len(), first, i, lb.DefaultReplicas, first)
	}
}

func TestRingLookupWraps(t *testing.T) {
	ring := lb.NewRing([]lb.ServerNode{{Addr: "a:1"}, {Addr: "b:2"}}, 10, lb.Murmur3)
	firstP, lastP := ring.Point(0), ring.Point(ring.Len()-1)
	tests := []struct {
		code uint32
		want int
	}{
		{0, firstP.Node},
		{firstP.Hash, firstP.Node},
		{lastP.Hash, lastP.Node},
		{lastP.Hash + 1, firstP.Node},
		{^uint32(0), firstP.Node},
	}
	for _, tt := range tests {
		if got := ring.Lookup(tt.code); got != tt.want {
			t.Errorf("Lookup(%#x) = %d, want %d", tt.code, got, tt.want)
		}
	}
	if got := lb.NewRing(nil, 10, lb.MD5).Lookup(7); got != -1 {
		t.Errorf("empty ring Lookup = %d, want -1", got)
	}
}

// TestRingSearch compares Search with a linear scan for rings of many sizes.
func TestRingSearch(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 17, 100} {
		nodes := make([]lb.ServerNode, n)
		for i := range nodes {
			nodes[i] = lb.ServerNode{Addr: addrOf(i)}
		}
		ring := lb.NewRing(nodes, 7, lb.MD5)
		for range 2000 {
			code := rand.Uint32()
			want := 0
			for want < ring.Len() && ring.Point(want).Hash < code {
				want++
			}
			want %= ring.Len()
			if got := ring.Search(code); got != want {
				t.Fatalf("%d points: Search(%#x) = %d, want %d", ring.Len(), code, got, want)
			}
		}
	}
}

// chashAddrs are brpc's consistent_hashing test addresses, IPv6 and unix included.
func chashAddrs() []string {
	return []string{"127.0.0.1:7777", "127.0.0.1:7778", "127.0.0.1:7779", "127.0.0.1:7780",
		"127.0.0.1:7781", "[::1]:8000", "unix:/tmp/troupe-lb.sock"}
}

// TestRingDeduplicates adds each of 7 addresses 5 times: the ring holds each point once.
func TestRingDeduplicates(t *testing.T) {
	var nodes []lb.ServerNode
	for range 5 {
		for _, a := range chashAddrs() {
			nodes = append(nodes, lb.ServerNode{Addr: a})
		}
	}
	for _, h := range []lb.Hasher{lb.Murmur3, lb.MD5, lb.Ketama} {
		ring := lb.NewRing(nodes, 100, h)
		if ring.Len() != 7*100 {
			t.Errorf("%v: ring of 7 addresses ×5 has %d points, want 700", h, ring.Len())
		}
		shares := ring.Shares()
		var total float64
		for i, s := range shares {
			total += s
			if (i < 7) != (s > 0) {
				t.Errorf("%v: share of node %d = %v; only the first 7 should own codes", h, i, s)
			}
		}
		if total < 0.999999 || total > 1.000001 {
			t.Errorf("%v: shares add up to %v, want 1", h, total)
		}
	}
}

func TestRingIndependentOfOrder(t *testing.T) {
	nodes := make([]lb.ServerNode, 50)
	for i := range nodes {
		nodes[i] = lb.ServerNode{Addr: addrOf(i)}
	}
	shuffled := slices.Clone(nodes)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, h := range []lb.Hasher{lb.Murmur3, lb.MD5, lb.Ketama} {
		a, b := lb.NewRing(nodes, 100, h), lb.NewRing(shuffled, 100, h)
		for range 10000 {
			code := rand.Uint32()
			if x, y := nodes[a.Lookup(code)].Addr, shuffled[b.Lookup(code)].Addr; x != y {
				t.Fatalf("%v: code %#x goes to %s, and to %s after shuffling", h, code, x, y)
			}
		}
	}
}

// maxOverMean sends codes random codes through ring and returns the busiest node's load over
// the mean load.
func maxOverMean(ring *lb.Ring, nodes, codes int) float64 {
	loads := make([]int, nodes)
	for range codes {
		loads[ring.Lookup(rand.Uint32())]++
	}
	return float64(slices.Max(loads)) * float64(nodes) / float64(codes)
}

// TestRingBalance measures brpc's default ring over 100 servers. brpc's 100 replicas give
// max/mean ≈ 1.26 averaged over address sets (1.27 in peer-features §5.2), so the 1.2 goal
// needs about 200 replicas on average and 400 for every set tried; the test logs the exact
// share and a sampled load for one fixed set and holds each replica count to its bound.
func TestRingBalance(t *testing.T) {
	nodes := make([]lb.ServerNode, 100)
	for i := range nodes {
		nodes[i] = lb.ServerNode{Addr: fmt.Sprintf("10.%d.%d.%d:8000", i/7, i%7*31, i*13%251)}
	}
	codes := 1_000_000
	if testing.Short() {
		codes = 200_000
	}
	for _, tt := range []struct {
		replicas int
		bound    float64
	}{{lb.DefaultReplicas, 1.4}, {200, 1.3}, {400, 1.2}, {1000, 1.1}} {
		ring := lb.NewRing(nodes, tt.replicas, lb.Murmur3)
		exact := slices.Max(ring.Shares()) * float64(len(nodes))
		sampled := maxOverMean(ring, len(nodes), codes)
		t.Logf("c_murmurhash, 100 servers, %4d replicas: max/mean share %.3f, load of %d codes %.3f",
			tt.replicas, exact, codes, sampled)
		if exact > tt.bound || sampled > tt.bound+0.05 {
			t.Errorf("%d replicas: max/mean share %.3f, sampled %.3f, want ≤ %.2f",
				tt.replicas, exact, sampled, tt.bound)
		}
	}
}

// NewRingFunc with MurmurHash3 builds the very ring NewRing's Murmur3 builds, and a hash of the
// caller's places the points it computes.
func TestNewRingFunc(t *testing.T) {
	nodes := []lb.ServerNode{{Addr: "10.0.0.1:80"}, {Addr: "10.0.0.2:80"}, {Addr: "10.0.0.3:80"}}
	murmur := func(key []byte) uint32 {
		m := murmur3.New32()
		m.Write(key)
		return m.Sum32()
	}
	want, got := lb.NewRing(nodes, 50, lb.Murmur3), lb.NewRingFunc(nodes, 50, murmur)
	if want.Len() != got.Len() {
		t.Fatalf("Len = %d, want %d", got.Len(), want.Len())
	}
	for i := range want.Len() {
		if want.Point(i) != got.Point(i) {
			t.Fatalf("point %d = %+v, want %+v", i, got.Point(i), want.Point(i))
		}
	}
	fnv1a := func(key []byte) uint32 {
		h := fnv.New32a()
		h.Write(key)
		return h.Sum32()
	}
	r := lb.NewRingFunc(nodes[:1], 3, fnv1a)
	pts := map[uint32]bool{}
	for i := range r.Len() {
		pts[r.Point(i).Hash] = true
	}
	for i := range 3 {
		if h := fnv1a([]byte("10.0.0.1:80-" + strconv.Itoa(i))); !pts[h] {
			t.Errorf("no point at fnv(10.0.0.1:80-%d) = %d; points %v", i, h, pts)
		}
	}
}

// tie is two servers with a ring point in common, listed with the one brpc's ring puts first.
type tie struct {
	hash          uint32
	first, second string
}

// findTies hashes the 100 murmur points of each address until it has found n ties between
// addresses that the order of their text would put the other way round.
func findTies(n int, addrs func(i int) (addr string, ok bool), brpcFirst func(a, b string) bool) []tie {
	seen := map[uint32]string{}
	var ties []tie
	for i := 0; len(ties) < n; i++ {
		addr, ok := addrs(i)
		if !ok {
			break
		}
		for r := range 100 {
			h := murmur32([]byte(addr+"-"+strconv.Itoa(r)), 0)
			if o, dup := seen[h]; dup && o != addr {
				a, b := o, addr
				if !brpcFirst(a, b) {
					a, b = b, a
				}
				if a > b { // the text order disagrees: only brpc's order gives this tie right
					ties = append(ties, tie{h, a, b})
				}
			}
			seen[h] = addr
		}
	}
	return ties
}

// TestRingTiesInBrpcEndpointOrder: when two servers have a point at the same hash, the code at
// that hash goes to the server brpc's ring sorts first, whose EndPoint comparison takes an IPv4
// address as its four bytes read as a little-endian word (the last byte counts most), then the
// port — not the order of the addresses' text.
func TestRingTiesInBrpcEndpointOrder(t *testing.T) {
	octets := func(addr string) (c, d int) {
		fmt.Sscanf(addr, "10.0.%d.%d:8000", &c, &d)
		return c, d
	}
	hosts := findTies(3, func(i int) (string, bool) {
		return fmt.Sprintf("10.0.%d.%d:8000", 1+i/254, 1+i%254), i < 254*254
	}, func(a, b string) bool {
		ca, da := octets(a)
		cb, db := octets(b)
		return da < db || da == db && ca < cb
	})
	port := func(addr string) int {
		p, _ := strconv.Atoi(addr[len("10.0.0.1:"):])
		return p
	}
	ports := findTies(2, func(i int) (string, bool) {
		p := 9000 + i/2 // alternately a 4-digit and a 5-digit port
		if i%2 == 1 {
			p = 10000 + i/2
		}
		return fmt.Sprintf("10.0.0.1:%d", p), i < 8000
	}, func(a, b string) bool { return port(a) < port(b) })
	if len(hosts) < 3 || len(ports) < 2 {
		t.Fatalf("found %d ties between hosts and %d between ports, want 3 and 2", len(hosts), len(ports))
	}
	for _, tt := range append(hosts, ports...) {
		for _, order := range [][]string{{tt.first, tt.second}, {tt.second, tt.first}} {
			nodes := []lb.ServerNode{{Addr: order[0]}, {Addr: order[1]}}
			ring := lb.NewRing(nodes, 100, lb.Murmur3)
			if got := nodes[ring.Lookup(tt.hash)].Addr; got != tt.first {
				t.Errorf("ring of %v: code %#x, a point of both, goes to %s, want %s (brpc's EndPoint order)",
					order, tt.hash, got, tt.first)
			}
		}
	}
}
