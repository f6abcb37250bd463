package lb_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
)

// weightedServers returns one server per tag, at addrOf(i).
func weightedServers(tags ...string) []lb.Server {
	s := make([]lb.Server, len(tags))
	for i, tag := range tags {
		s[i] = lb.Server{ServerNode: lb.ServerNode{Addr: addrOf(i), Tag: tag}}
	}
	return s
}

// TestWeightedRoundRobinReportsInvalidWeights: the servers wrr leaves out for a tag that is no
// weight, which brpc logs, are named by BuildError; the others are picked as before.
func TestWeightedRoundRobinReportsInvalidWeights(t *testing.T) {
	servers := weightedServers("3", "1ab", "-1", "0", "", "2", "x")
	servers[6].Weight = 5 // a Weight makes the tag irrelevant
	for _, b := range []lb.Balancer{mustNew(t, "wrr"), lb.Guard(mustNew(t, "wrr"))} {
		p := b.Build(servers)
		err := lb.BuildError(p)
		wantCode(t, "BuildError", err, wire.EINVAL)
		for i, s := range servers {
			named := strings.Contains(err.Error(), fmt.Sprintf("%s tag %q", s.Addr, s.Tag))
			if invalid := i >= 1 && i <= 4; named != invalid {
				t.Errorf("BuildError = %v; names %s tag %q: %v, want %v", err, s.Addr, s.Tag, named, invalid)
			}
		}
		if !strings.Contains(err.Error(), "left out 4 server(s)") {
			t.Errorf("BuildError = %v, want it to count 4 servers", err)
		}
		counts := map[int]int{}
		for range 10 {
			counts[mustPick(t, p, nil)]++
		}
		if len(counts) != 3 || counts[0] != 3 || counts[5] != 2 || counts[6] != 5 {
			t.Errorf("10 picks gave %v, want map[0:3 5:2 6:5]", counts)
		}
	}
}

func TestBuildErrorNilWhenNothingLeftOut(t *testing.T) {
	weighted := weightedServers("3", "2")
	weighted[1].Down = true // Down is not invalid
	if err := lb.BuildError(mustNew(t, "wrr").Build(weighted)); err != nil {
		t.Errorf("wrr BuildError = %v, want nil", err)
	}
	untagged := weightedServers("", "x")
	for _, policy := range []string{"rr", "random", "la", "c_murmurhash", "c_md5", "c_ketama"} {
		if err := lb.BuildError(mustNew(t, policy).Build(untagged)); err != nil {
			t.Errorf("%s BuildError = %v, want nil (it reads no weight)", policy, err)
		}
	}
	if err := lb.BuildError(lb.Guard(mustNew(t, "rr")).Build(untagged)); err != nil {
		t.Errorf("guarded rr BuildError = %v, want nil", err)
	}
}

// TestWeightedRoundRobinNoWeightSaysWhy: when no server has a weight, picks fail with
// EHOSTDOWN naming the servers left out.
func TestWeightedRoundRobinNoWeightSaysWhy(t *testing.T) {
	p := mustNew(t, "wrr").Build(weightedServers("1ab", "0"))
	i, err := p.Pick(nil)
	if err == nil {
		t.Fatalf("Pick = %d, want EHOSTDOWN", i)
	}
	wantCode(t, "Pick", err, wire.EHOSTDOWN)
	if !strings.Contains(err.Error(), `tag "1ab"`) || !strings.Contains(err.Error(), `tag "0"`) {
		t.Errorf("Pick = %v, want it to name the tags 1ab and 0", err)
	}
}

func TestBuildErrorNamesAtMostEight(t *testing.T) {
	tags := make([]string, 11)
	for i := range tags {
		tags[i] = fmt.Sprintf("bad%d", i)
	}
	err := lb.BuildError(mustNew(t, "wrr").Build(weightedServers(tags...)))
	wantCode(t, "BuildError", err, wire.EINVAL)
	if !strings.Contains(err.Error(), `tag "bad7", 3 more`) || strings.Contains(err.Error(), "bad8") {
		t.Errorf("BuildError = %v, want 8 servers named and 3 more counted", err)
	}
}

// reportingPicker is a user's Picker that reports through BuildError.
type reportingPicker struct{ report func() error }

func (reportingPicker) Pick(*lb.Request) (int, error) { return 0, nil }
func (r reportingPicker) BuildError() error           { return r.report() }

type reportingBalancer struct{ reportingPicker }

func (b reportingBalancer) Build([]lb.Server) lb.Picker { return b.reportingPicker }
func (reportingBalancer) Feedback(lb.Feedback)          {}
func (reportingBalancer) Name() string                  { return "reporting" }

func TestBuildErrorThroughGuard(t *testing.T) {
	own := wire.Errorf(wire.EINVAL, "server 3 is odd")
	b := lb.Guard(reportingBalancer{reportingPicker{func() error { return own }}})
	if err := lb.BuildError(b.Build(mkServers(1))); err != own {
		t.Errorf("BuildError = %v, want the Picker's own %v", err, own)
	}
	b = lb.Guard(reportingBalancer{reportingPicker{func() error { panic("oops") }}})
	err := lb.BuildError(b.Build(mkServers(1)))
	wantCode(t, "BuildError", err, wire.EINTERNAL)
	if !strings.Contains(err.Error(), "BuildError panicked: oops") || !strings.Contains(err.Error(), `"reporting"`) {
		t.Errorf("BuildError = %v, want it to name the balancer and the panic", err)
	}
}
