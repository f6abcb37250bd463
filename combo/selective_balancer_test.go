package combo_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/combo"
	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// lastSub is a Balancer of a program's own: every call goes to the sub-channel added last.
type lastSub struct{ builds, feedbacks, failed atomic.Int64 }

func (b *lastSub) Build(servers []lb.Server) lb.Picker {
	b.builds.Add(1)
	return lastPicker(len(servers))
}
func (b *lastSub) Feedback(f lb.Feedback) {
	b.feedbacks.Add(1)
	if f.Failed {
		b.failed.Add(1)
	}
}
func (*lastSub) Name() string { return "last_sub" }

type lastPicker int

func (n lastPicker) Pick(*lb.Request) (int, error) {
	if n == 0 {
		return -1, wire.Errorf(wire.ENODATA, "no sub-channel")
	}
	return int(n) - 1, nil
}

func TestSelectiveBalancerPicksAreHonoured(t *testing.T) {
	sys := newSystem(t)
	bal := &lastSub{}
	s, err := combo.NewSelectiveChannel(sys, &combo.SelectiveOptions{Balancer: bal})
	if err != nil {
		t.Fatalf("NewSelectiveChannel(Balancer) = %v, want no error", err)
	}
	defer s.Close()
	svcs := make([]*echoservice.Service, 3)
	for i := range svcs {
		svcs[i] = &echoservice.Service{Index: int32(i)}
		if _, err := s.AddChannel(plain(t, sys, startEcho(t, svcs[i]), nil), combo.OwnsChannel); err != nil {
			t.Fatal(err)
		}
	}
	const calls = 20
	for range calls {
		resp := &echopb.EchoResponse{}
		if err := s.Call(t.Context(), echoservice.Method, echoReq("x"), resp, nil); err != nil {
			t.Fatalf("Call() = %v, want nil", err)
		}
		if resp.GetServerIndex() != 2 {
			t.Fatalf("Call() answered by server %d, want 2 (the last sub-channel)", resp.GetServerIndex())
		}
	}
	for i, want := range []int64{0, 0, calls} {
		if got := svcs[i].Requests(); got != want {
			t.Errorf("server %d got %d calls, want %d", i, got, want)
		}
	}
	if bal.builds.Load() < 4 {
		t.Errorf("Build called %d times, want at least 4 (empty, then one per AddChannel)", bal.builds.Load())
	}
	if bal.feedbacks.Load() != calls || bal.failed.Load() != 0 {
		t.Errorf("Feedback got %d reports (%d failed), want %d (0 failed): one per attempt", bal.feedbacks.Load(), bal.failed.Load(), calls)
	}
	noCallsLeft(t, sys)
}

func TestSelectiveBalancerNilPicker(t *testing.T) {
	sys := newSystem(t)
	s, err := combo.NewSelectiveChannel(sys, &combo.SelectiveOptions{Balancer: nilPicker{}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc := &echoservice.Service{}
	if _, err := s.AddChannel(plain(t, sys, startEcho(t, svc), nil), combo.OwnsChannel); err != nil {
		t.Fatal(err)
	}
	err = s.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil)
	if wire.ErrnoOf(err) != wire.EINTERNAL || !strings.Contains(err.Error(), "nil Picker") {
		t.Errorf("Call() = %v, want EINTERNAL naming the nil Picker", err)
	}
	if svc.Requests() != 0 {
		t.Errorf("server got %d calls, want none", svc.Requests())
	}
}

type nilPicker struct{}

func (nilPicker) Build([]lb.Server) lb.Picker { return nil }
func (nilPicker) Feedback(lb.Feedback)        {}
func (nilPicker) Name() string                { return "nil_picker" }

func TestSelectiveBalancerAndLoadBalancer(t *testing.T) {
	sys := newSystem(t)
	_, err := combo.NewSelectiveChannel(sys, &combo.SelectiveOptions{LoadBalancer: "rr", Balancer: &lastSub{}})
	if err == nil || !strings.Contains(err.Error(), "SelectiveOptions.LoadBalancer") ||
		!strings.Contains(err.Error(), "SelectiveOptions.Balancer") {
		t.Errorf("NewSelectiveChannel(LoadBalancer and Balancer) = %v, want an error naming both fields", err)
	}
}

func TestPartitionChannelRefusesABalancer(t *testing.T) {
	sys := newSystem(t)
	opts := &combo.PartitionOptions{Channel: actors.ChannelOptions{Balancer: &lastSub{}}}
	if _, err := combo.NewPartitionChannel(sys, 2, combo.SlashParser{}, "list://127.0.0.1:1 0/2", opts); err == nil ||
		!strings.Contains(err.Error(), "Channel.Balancer") {
		t.Errorf("NewPartitionChannel(Channel.Balancer) = %v, want an error naming Channel.Balancer", err)
	}
	if _, err := combo.NewShards(sys, "list://127.0.0.1:1 0", &combo.ShardOptions{Channel: opts.Channel}); err == nil ||
		!strings.Contains(err.Error(), "Channel.Balancer") {
		t.Errorf("NewShards(Channel.Balancer) = %v, want an error naming Channel.Balancer", err)
	}
}
