package lb_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
)

func allPolicies() []string { return append(pickers(), "c_md5", "c_ketama") }

func TestEmptyListIsENODATA(t *testing.T) {
	for _, policy := range allPolicies() {
		for _, servers := range [][]lb.Server{nil, {}} {
			_, err := mustNew(t, policy).Build(servers).Pick(request(policy))
			wantCode(t, policy+" Pick over no server", err, wire.ENODATA)
		}
	}
}

// TestHealth is brpc's health_check_no_valid_server: a Down server is never picked, all Down
// gives EHOSTDOWN, and once they are back both are picked again within 20 picks.
func TestHealth(t *testing.T) {
	for _, policy := range allPolicies() {
		t.Run(policy, func(t *testing.T) {
			b := mustNew(t, policy)
			servers := mkServers(3)
			servers[1].Down = true
			p := b.Build(servers)
			for range 200 {
				if i := mustPick(t, p, request(policy)); i == 1 {
					t.Fatalf("Pick = 1, a Down server")
				}
			}
			for i := range servers {
				servers[i].Down = true
			}
			_, err := b.Build(servers).Pick(request(policy))
			wantCode(t, "Pick with every server Down", err, wire.EHOSTDOWN)
			p = b.Build(mkServers(2))
			seen := map[int]bool{}
			for range 20 {
				seen[mustPick(t, p, request(policy))] = true
			}
			if policy != "la" && policy[:2] != "c_" && len(seen) != 2 {
				t.Errorf("20 picks after recovery reached %v, want both servers", seen)
			}
		})
	}
}

// TestExcluded: excluded servers are avoided while another is usable; when every server was
// tried, one is reused (the last chance), and a one-server list always gives its server.
func TestExcluded(t *testing.T) {
	servers := mkServers(3)
	nodes := func(idx ...int) []lb.ServerNode {
		var out []lb.ServerNode
		for _, i := range idx {
			out = append(out, servers[i].ServerNode)
		}
		return out
	}
	for _, policy := range allPolicies() {
		p := mustNew(t, policy).Build(servers)
		for range 100 {
			if i := mustPick(t, p, request(policy, nodes(0, 2)...)); i != 1 {
				t.Fatalf("%s: Pick excluding 0 and 2 = %d, want 1", policy, i)
			}
			mustPick(t, p, request(policy, nodes(0, 1, 2)...))
		}
		one := mustNew(t, policy).Build(servers[:1])
		if i := mustPick(t, one, request(policy, nodes(0)...)); i != 0 {
			t.Errorf("%s: Pick on one excluded server = %d, want 0", policy, i)
		}
	}
}

func TestRoundRobinCycles(t *testing.T) {
	servers := mkServers(3)
	p := mustNew(t, "rr").Build(servers)
	first := mustPick(t, p, nil)
	for k := 1; k < 9; k++ {
		if i := mustPick(t, p, nil); i != (first+k)%3 {
			t.Fatalf("pick %d = %d, want %d: rr goes a, b, c, a, …", k, i, (first+k)%3)
		}
	}
	servers[1].Down = true
	p = mustNew(t, "rr").Build(servers)
	counts := [3]int{}
	for range 100 {
		counts[mustPick(t, p, nil)]++
	}
	if counts != [3]int{50, 0, 50} {
		t.Errorf("rr over a, b (Down), c picked %v, want [50 0 50]", counts)
	}
	servers[1] = lb.Server{ServerNode: lb.ServerNode{Addr: servers[0].Addr, Tag: "other"}}
	p = mustNew(t, "rr").Build(servers) // one address under two tags counts twice
	byAddr := map[string]int{}
	for range 300 {
		byAddr[servers[mustPick(t, p, nil)].Addr]++
	}
	if byAddr[servers[0].Addr] != 200 || byAddr[servers[2].Addr] != 100 {
		t.Errorf("rr over a, a (another tag), c picked %v, want 200 and 100", byAddr)
	}
}

// TestWeightedRoundRobin is brpc's weighted_round_robin: weights 3, 2, 7, a Down server of
// weight 200000000, and tags that are no weight; any 12 consecutive picks give exactly 3/2/7.
func TestWeightedRoundRobin(t *testing.T) {
	tags := []string{"3", "2", "7", "200000000", "1ab", "-1", "0", ""}
	var servers []lb.Server
	for i, tag := range tags {
		servers = append(servers, lb.Server{ServerNode: lb.ServerNode{Addr: addrOf(i), Tag: tag}})
	}
	servers[3].Down = true
	p := mustNew(t, "wrr").Build(servers)
	for round := range 10 {
		counts := map[int]int{}
		for range 12 {
			counts[mustPick(t, p, nil)]++
		}
		if len(counts) != 3 || counts[0] != 3 || counts[1] != 2 || counts[2] != 7 {
			t.Fatalf("round %d: 12 picks gave %v, want map[0:3 1:2 2:7]", round, counts)
		}
	}
	servers[0].Weight = 5 // Weight wins over the tag
	p = mustNew(t, "wrr").Build(servers)
	counts := map[int]int{}
	for range 14 * 3 {
		counts[mustPick(t, p, nil)]++
	}
	if counts[0] != 15 || counts[1] != 6 || counts[2] != 21 {
		t.Errorf("42 picks with weights 5,2,7 gave %v, want map[0:15 1:6 2:21]", counts)
	}
}

// TestWeightedRoundRobinNoValidServer is brpc's test of the same name: one server excluded,
// one Down, one that never connects (Down too): EHOSTDOWN.
func TestWeightedRoundRobinNoValidServer(t *testing.T) {
	servers := []lb.Server{
		{ServerNode: lb.ServerNode{Addr: "10.92.115.19:8831", Tag: "200000000"}},
		{ServerNode: lb.ServerNode{Addr: "10.42.108.25:8832", Tag: "2"}, Down: true},
		{ServerNode: lb.ServerNode{Addr: "10.36.150.32:8833", Tag: "600000"}, Down: true},
	}
	p := mustNew(t, "wrr").Build(servers)
	for range 100 {
		i, err := p.Pick(&lb.Request{Excluded: []lb.ServerNode{servers[0].ServerNode}})
		if err == nil {
			t.Fatalf("Pick = %d, want EHOSTDOWN", i)
		}
		wantCode(t, "Pick", err, wire.EHOSTDOWN)
	}
}

func TestWeight(t *testing.T) {
	tests := []struct {
		node lb.ServerNode
		want uint64
		ok   bool
	}{
		{lb.ServerNode{Tag: "3"}, 3, true},
		{lb.ServerNode{Tag: "4294967295"}, math.MaxUint32, true},
		{lb.ServerNode{Tag: "4294967296"}, 0, false},
		{lb.ServerNode{Tag: "1ab"}, 0, false},
		{lb.ServerNode{Tag: "-1"}, 0, false},
		{lb.ServerNode{Tag: "0"}, 0, false},
		{lb.ServerNode{Tag: ""}, 0, false},
		{lb.ServerNode{Tag: "x", Weight: 9}, 9, true},
		{lb.ServerNode{Tag: "4", Weight: -1}, 4, true},
		{lb.ServerNode{Weight: math.MaxInt}, math.MaxUint32, true},
	}
	for _, tt := range tests {
		if w, ok := lb.Weight(tt.node); w != tt.want || ok != tt.ok {
			t.Errorf("Weight(%+v) = %d, %v, want %d, %v", tt.node, w, ok, tt.want, tt.ok)
		}
	}
}

func TestConsistentHashingNeedsACode(t *testing.T) {
	for _, policy := range []string{"c_murmurhash", "c_md5", "c_ketama"} {
		p := mustNew(t, policy).Build(mkServers(3))
		for _, r := range []*lb.Request{nil, {}, {Code: 7}, {Code: 1 << 32, HasCode: true}} {
			_, err := p.Pick(r)
			wantCode(t, policy+" Pick", err, wire.EINVAL)
		}
		if _, err := p.Pick(&lb.Request{Code: math.MaxUint32, HasCode: true}); err != nil {
			t.Errorf("%s Pick(code 2^32-1) = %v, want a server", policy, err)
		}
	}
}

// TestConsistentHashingLoad is brpc's consistent_hashing: 7 addresses each listed 5 times;
// the share of picks of each address matches its share of the ring.
func TestConsistentHashingLoad(t *testing.T) {
	var servers []lb.Server
	for range 5 {
		for _, a := range chashAddrs() {
			servers = append(servers, lb.Server{ServerNode: lb.ServerNode{Addr: a}})
		}
	}
	const picks = 200_000
	for _, h := range []lb.Hasher{lb.Murmur3, lb.MD5, lb.Ketama} {
		p := mustNew(t, "c_"+h.String()).Build(servers)
		loads := make([]float64, len(servers))
		r := request("c_")
		// Codes from a seeded generator: uniform and the same on every run. (A chain of hashes
		// of the previous code can fall into a short cycle and load a few points only.)
		codes := rand.New(rand.NewPCG(1, 2))
		for range picks {
			r.Code = uint64(codes.Uint32())
			loads[mustPick(t, p, r)] += 1.0 / picks
		}
		shares := lb.NewRing(nodesOf(servers), lb.DefaultReplicas, h).Shares()
		for i := range loads {
			if math.Abs(loads[i]-shares[i]) > 0.01 {
				t.Errorf("%v: %s got %.4f of the picks, owns %.4f of the ring",
					h, servers[i].Addr, loads[i], shares[i])
			}
		}
	}
}

func nodesOf(servers []lb.Server) []lb.ServerNode {
	out := make([]lb.ServerNode, len(servers))
	for i := range servers {
		out[i] = servers[i].ServerNode
	}
	return out
}

// TestLocalityAwareSelectionTooLong is brpc's la_selection_too_long: over one Down server la
// answers EHOSTDOWN at once.
func TestLocalityAwareSelectionTooLong(t *testing.T) {
	servers := mkServers(1)
	servers[0].Down = true
	_, err := mustNew(t, "la").Build(servers).Pick(request("la"))
	wantCode(t, "la Pick over one Down server", err, wire.EHOSTDOWN)
}
