package lb

import (
	"cmp"
	"crypto/md5"
	"encoding/binary"
	"hash"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"

	"github.com/spaolacci/murmur3"
)

// DefaultReplicas is the number of points a server gets on a [Ring] by default, brpc's
// -chash_num_replicas.
const DefaultReplicas = 100

// Hasher chooses how a [Ring] places a server's points. Each server with address text A (its
// [ServerNode.Addr], "10.0.0.1:8000" or "[::1]:8000") gets replicas points, with the
// keys "A-0", "A-1", … as brpc's consistent-hashing balancers make them.
type Hasher int

const (
	// Murmur3 places point i at MurmurHash3_x86_32("A-i", seed 0), as brpc's c_murmurhash.
	Murmur3 Hasher = iota
	// MD5 places point i at the first 4 bytes of MD5("A-i") read little-endian, as c_md5.
	MD5
	// Ketama takes the 4 little-endian words of MD5("A-i") for i < replicas/4 as 4 points
	// each, as c_ketama.
	Ketama
)

// String returns the hasher's name in brpc's balancer names: "murmurhash", "md5", "ketama".
func (h Hasher) String() string {
	switch h {
	case Murmur3:
		return "murmurhash"
	case MD5:
		return "md5"
	case Ketama:
		return "ketama"
	}
	return "Hasher(" + strconv.Itoa(int(h)) + ")"
}

// pointsFunc returns how a ring of h places a node's points: at keys "A-i", or "A-i-T" with
// withTag (T being the node's tag, brpc's -consistent_hashing_enable_server_tag).
func (h Hasher) pointsFunc(withTag bool) pointsFunc {
	return func(dst []uint32, key []byte, node *ServerNode, replicas int) ([]uint32, []byte) {
		keyOf := func(i int) []byte {
			key = pointKey(key[:0], node, i, withTag)
			return key
		}
		switch h {
		case Murmur3:
			m := murmur3.New32()
			for i := range replicas {
				dst = append(dst, murmurSum(m, keyOf(i)))
			}
		case MD5:
			for i := range replicas {
				dst = append(dst, md5Hash32(keyOf(i)))
			}
		case Ketama:
			for i := range replicas / 4 {
				w := ketamaWords(keyOf(i))
				dst = append(dst, w[:]...)
			}
		}
		return dst, key
	}
}

// pointKey appends the key of node's point i to dst: "A-i", or "A-i-T" with withTag.
func pointKey(dst []byte, node *ServerNode, i int, withTag bool) []byte {
	dst = append(append(dst, node.Addr...), '-')
	dst = strconv.AppendInt(dst, int64(i), 10)
	if withTag {
		dst = append(append(dst, '-'), node.Tag...)
	}
	return dst
}

// murmurSum is MurmurHash3_x86_32 of key with seed 0 (brpc's MurmurHash32), computed with m,
// which it resets. murmur3.Sum32 does uintptr arithmetic that the race detector's checkptr
// rejects (spaolacci/murmur3#34); the streaming hasher computes the same sum safely.
func murmurSum(m hash.Hash32, key []byte) uint32 {
	m.Reset()
	m.Write(key)
	return m.Sum32()
}

// md5Hash32 is brpc's MD5Hash32: the first 4 bytes of MD5(key) read little-endian.
func md5Hash32(key []byte) uint32 {
	sum := md5.Sum(key)
	return binary.LittleEndian.Uint32(sum[:4])
}

// ketamaWords is the 4 little-endian 32-bit words of MD5(key), the points c_ketama places for
// one key.
func ketamaWords(key []byte) [4]uint32 {
	sum := md5.Sum(key)
	var w [4]uint32
	for j := range w {
		w[j] = binary.LittleEndian.Uint32(sum[4*j:])
	}
	return w
}

// Point is one point of a [Ring]: its place and the index of its server.
type Point struct {
	Hash uint32
	Node int // index in the nodes given to NewRing
}

// Ring is a consistent-hashing ring built exactly as brpc builds its c_murmurhash, c_md5 and
// c_ketama rings: points sorted by (hash, address, tag), identical points kept once, addresses
// in brpc's EndPoint order. It is
// immutable and safe for concurrent use.
type Ring struct {
	hashes []uint32 // the points, ascending
	owner  []int32  // the node of each point
	nodes  int
	// bucket[k] is the first point whose hash is ≥ k<<shift, for k ≤ 2^(32−shift); it narrows a
	// search to the one or two points of the code's bucket.
	bucket []int32
	shift  uint
}

// NewRing places replicas points for each of nodes with h; replicas ≤ 0 means
// [DefaultReplicas]. A node whose address and tag repeat an earlier node's adds no point, so
// listing a server twice is listing it once. The tag does not move a point; it only orders two
// entries of one address that share it.
func NewRing(nodes []ServerNode, replicas int, h Hasher) *Ring {
	return newRing(nodes, replicas, h.pointsFunc(false))
}

// NewRingFunc places replicas points for each of nodes at hash("A-0"), hash("A-1"), … (A being
// the node's address): a ring for a hash function of the caller's, such as a partitioner's
// pluggable key hasher. replicas ≤ 0 means [DefaultReplicas]; nodes repeat as for [NewRing].
func NewRingFunc(nodes []ServerNode, replicas int, hash func(key []byte) uint32) *Ring {
	return newRing(nodes, replicas, func(dst []uint32, key []byte, node *ServerNode, replicas int) ([]uint32, []byte) {
		for i := range replicas {
			key = pointKey(key[:0], node, i, false)
			dst = append(dst, hash(key))
		}
		return dst, key
	})
}

// pointsFunc appends the points of node to dst; key is scratch space.
type pointsFunc func(dst []uint32, key []byte, node *ServerNode, replicas int) ([]uint32, []byte)

func newRing(nodes []ServerNode, replicas int, appendPoints pointsFunc) *Ring {
	if replicas <= 0 {
		replicas = DefaultReplicas
	}
	points := make([]Point, 0, len(nodes)*replicas)
	hashes, key := make([]uint32, 0, replicas), []byte(nil)
	for i := range nodes {
		hashes, key = appendPoints(hashes[:0], key, &nodes[i], replicas)
		for _, x := range hashes {
			points = append(points, Point{Hash: x, Node: i})
		}
	}
	slices.SortFunc(points, func(a, b Point) int { return comparePoints(nodes, a, b) })
	points = slices.CompactFunc(points, func(a, b Point) bool {
		return a.Hash == b.Hash && nodes[a.Node].Addr == nodes[b.Node].Addr &&
			nodes[a.Node].Tag == nodes[b.Node].Tag
	})
	r := &Ring{hashes: make([]uint32, len(points)), owner: make([]int32, len(points)),
		nodes: len(nodes)}
	for i, p := range points {
		r.hashes[i], r.owner[i] = p.Hash, int32(p.Node)
	}
	r.index()
	return r
}

// index fills bucket with about one bucket per point.
func (r *Ring) index() {
	b := uint(max(bits.Len(uint(len(r.hashes))), 1) - 1)
	r.shift = 32 - min(b, 24)
	r.bucket = make([]int32, 1<<(32-r.shift)+1)
	i := 0
	for k := range r.bucket {
		for i < len(r.hashes) && uint64(r.hashes[i]) < uint64(k)<<r.shift {
			i++
		}
		r.bucket[k] = int32(i)
	}
}

func comparePoints(nodes []ServerNode, a, b Point) int {
	if c := cmp.Compare(a.Hash, b.Hash); c != 0 {
		return c
	}
	na, nb := &nodes[a.Node], &nodes[b.Node]
	if c := compareEndpoints(na.Addr, nb.Addr); c != 0 {
		return c
	}
	if c := cmp.Compare(na.Tag, nb.Tag); c != 0 {
		return c
	}
	return cmp.Compare(a.Node, b.Node) // the first of identical points is kept
}

// compareEndpoints orders the addresses of two points with the same hash as brpc orders its
// EndPoints, so that the server a tie gives a code to is the one brpc's clients pick: IPv4
// endpoints first, by their address as the integer brpc compares (the four bytes in network order
// read as a little-endian word, so the last byte counts most), then by port; then every other
// address (IPv6, unix sockets, host names), which brpc orders by a handle of its process, by
// its text.
func compareEndpoints(a, b string) int {
	if a == b {
		return 0
	}
	pa, errA := netip.ParseAddrPort(a)
	pb, errB := netip.ParseAddrPort(b)
	v4a, v4b := errA == nil && pa.Addr().Is4(), errB == nil && pb.Addr().Is4()
	switch {
	case v4a && v4b:
		ia, ib := pa.Addr().As4(), pb.Addr().As4()
		if c := cmp.Compare(binary.LittleEndian.Uint32(ia[:]), binary.LittleEndian.Uint32(ib[:])); c != 0 {
			return c
		}
		if c := cmp.Compare(pa.Port(), pb.Port()); c != 0 {
			return c
		}
	case v4a:
		return -1
	case v4b:
		return 1
	}
	return cmp.Compare(a, b)
}

// Len returns the number of points.
func (r *Ring) Len() int { return len(r.hashes) }

// Point returns the i-th point in ring order, 0 ≤ i < Len.
func (r *Ring) Point(i int) Point { return Point{Hash: r.hashes[i], Node: int(r.owner[i])} }

// Search returns the position of the first point whose hash is ≥ code, wrapping to 0 past the
// last; -1 when the ring is empty.
func (r *Ring) Search(code uint32) int {
	if len(r.hashes) == 0 {
		return -1
	}
	k := uint64(code) >> r.shift
	lo, hi := int(r.bucket[k]), int(r.bucket[k+1])
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r.hashes[mid] >= code {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == len(r.hashes) {
		return 0
	}
	return lo
}

// Lookup returns the index of the node that owns code: the node of the first point whose hash
// is ≥ code, wrapping around; -1 when the ring is empty.
func (r *Ring) Lookup(code uint32) int {
	i := r.Search(code)
	if i < 0 {
		return -1
	}
	return int(r.owner[i])
}

// Shares returns, for each node given to NewRing, the fraction of the 2^32 codes that Lookup
// sends to it (brpc's GetLoads). Repeated nodes get 0.
func (r *Ring) Shares() []float64 {
	shares := make([]float64, r.nodes)
	n := len(r.hashes)
	for i, h := range r.hashes {
		prev := int64(r.hashes[(i+n-1)%n])
		if i == 0 {
			prev -= 1 << 32
		}
		shares[r.owner[i]] += float64(int64(h)-prev) / (1 << 32)
	}
	return shares
}
