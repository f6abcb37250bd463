package combo_test

import (
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A parallel channel's calls count in its own per-method stats, and each sub-call in its plain
// sub-channel's; a closed parallel channel leaves System.Stats.
func TestParallelChannelStats(t *testing.T) {
	addr := startEcho(t, nil)
	sys := newSystem(t)
	p, err := combo.NewParallelChannel(sys, &combo.ParallelOptions{Timeout: testTimeout})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := p.AddChannel(plain(t, sys, addr, nil), combo.OwnsChannel, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	const n = 5
	for range n {
		if err := p.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v", err)
		}
	}
	var parallel, subs int
	for _, ch := range sys.Stats().Channels {
		if len(ch.Methods) != 1 || ch.Methods[0].Method != echoservice.Method {
			t.Fatalf("channel %s: methods %+v, want %s only", ch.Name, ch.Methods, echoservice.Method)
		}
		m := ch.Methods[0]
		if m.Calls != n || m.InFlight != 0 || m.Latency.Count != n || m.Errors != nil {
			t.Errorf("channel %s: Calls = %d, InFlight = %d, Latency.Count = %d, Errors = %v; want %d calls without errors",
				ch.Name, m.Calls, m.InFlight, m.Latency.Count, m.Errors, n)
		}
		if strings.HasPrefix(ch.Name, "parallel-") && ch.Target == "parallel channel" {
			parallel++
		} else if ch.Target == addr {
			subs++
		}
	}
	if parallel != 1 || subs != 3 {
		t.Fatalf("Stats() lists %d parallel and %d plain channels, want 1 and 3", parallel, subs)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if chs := sys.Stats().Channels; len(chs) != 0 {
		t.Errorf("after Close, Stats() lists %d channels, want none: %+v", len(chs), chs)
	}
}
