package lb_test

import (
	"fmt"

	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
)

// preferTag is a Balancer that sends every call to the first usable server tagged tag, and to
// the first usable server of any tag when none is.
type preferTag struct{ tag string }

func (b *preferTag) Build(servers []lb.Server) lb.Picker {
	first, preferred := -1, -1
	for i, s := range servers {
		switch {
		case s.Down:
		case preferred < 0 && s.Tag == b.tag:
			preferred = i
		case first < 0:
			first = i
		}
	}
	if preferred >= 0 {
		first = preferred
	}
	return fixedPick{i: first, empty: len(servers) == 0}
}

func (*preferTag) Feedback(lb.Feedback) {} // it does not learn
func (*preferTag) Name() string         { return "prefer_tag" }

// fixedPick is an immutable snapshot: the index chosen at Build, or why there is none.
type fixedPick struct {
	i     int
	empty bool
}

func (p fixedPick) Pick(*lb.Request) (int, error) {
	switch {
	case p.empty:
		return -1, wire.Errorf(wire.ENODATA, "no server")
	case p.i < 0:
		return -1, wire.Errorf(wire.EHOSTDOWN, "no usable server")
	}
	return p.i, nil
}

func Example_writingABalancer() {
	var b lb.Balancer = &preferTag{tag: "canary"}
	servers := []lb.Server{
		{ServerNode: lb.ServerNode{Addr: "10.0.0.1:8000"}},
		{ServerNode: lb.ServerNode{Addr: "10.0.0.2:8000", Tag: "canary"}},
	}
	i, _ := b.Build(servers).Pick(&lb.Request{})
	fmt.Println(servers[i].Addr)
	servers[1].Down = true // the channel builds a new Picker when a server's health changes
	i, _ = b.Build(servers).Pick(&lb.Request{})
	fmt.Println(servers[i].Addr)
	_, err := b.Build(nil).Pick(&lb.Request{})
	fmt.Println(wire.ErrnoOf(err) == wire.ENODATA)
	// Output:
	// 10.0.0.2:8000
	// 10.0.0.1:8000
	// true
}
