package lb

import (
	"math"

	"github.com/troupe-rpc/troupe/wire"
)

// consistentHashing is brpc's c_murmurhash, c_md5 and c_ketama. It keeps the last ring and
// reuses it while the list of addresses and tags is the same, so a health change does not
// rehash.
type consistentHashing struct {
	hasher   Hasher
	replicas int
	withTag  bool         // point keys carry the tag: "A-i-tag"
	nodes    []ServerNode // the list lastRing was built from; touched by Build only
	lastRing *Ring
}

func (b *consistentHashing) Name() string      { return "c_" + b.hasher.String() }
func (b *consistentHashing) Feedback(Feedback) {}

func (b *consistentHashing) Build(servers []Server) Picker {
	if !sameNodes(b.nodes, servers) {
		nodes := make([]ServerNode, len(servers))
		for i := range servers {
			nodes[i] = ServerNode{Addr: servers[i].Addr, Tag: servers[i].Tag}
		}
		b.nodes, b.lastRing = nodes, newRing(nodes, b.replicas, b.hasher.pointsFunc(b.withTag))
	}
	return &chashPicker{ring: b.lastRing, servers: servers, usable: countUp(servers)}
}

func sameNodes(nodes []ServerNode, servers []Server) bool {
	if nodes == nil || len(nodes) != len(servers) {
		return false
	}
	for i := range nodes {
		if nodes[i].Addr != servers[i].Addr || nodes[i].Tag != servers[i].Tag {
			return false
		}
	}
	return true
}

type chashPicker struct {
	ring    *Ring
	servers []Server
	usable  int
}

// Pick walks clockwise from the first point at or after r.Code to the first usable server r
// does not exclude; the last point of the walk is taken if usable, even if excluded.
func (p *chashPicker) Pick(r *Request) (int, error) {
	if r == nil || !r.HasCode {
		return -1, wire.Errorf(wire.EINVAL, "consistent hashing needs a request code")
	}
	if r.Code > math.MaxUint32 {
		return -1, wire.Errorf(wire.EINVAL, "request code above 2^32-1")
	}
	if len(p.servers) == 0 {
		return -1, errNoData()
	}
	if p.usable == 0 {
		return -1, errHostDown()
	}
	n := p.ring.Len()
	pos := p.ring.Search(uint32(r.Code))
	for i := range n {
		j := int(p.ring.owner[pos])
		if !p.servers[j].Down && (i+1 == n || !excluded(r, p.servers[j].Addr)) {
			return j, nil
		}
		if pos++; pos == n {
			pos = 0
		}
	}
	return -1, errHostDown()
}
