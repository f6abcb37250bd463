package lb

import (
	"fmt"

	"github.com/troupe-rpc/troupe/wire"
)

// Guard returns a Balancer that is b, except that b's mistakes become errors of the calls that
// meet them instead of panics of the runtime that calls b: when Build returns nil or panics, the
// Picker returned in its place fails every Pick with EINTERNAL; when Pick panics or returns an
// index outside the list it was built from, that Pick fails with EINTERNAL. Each error names b.
// Pick errors of b's own pass through unchanged, and so do Feedback and Name.
//
// Channels guard the Balancers a user gives them (a channel's or a selective channel's
// Balancer option); the balancers [New] makes need no guard. Guarding costs a Pick one more
// call through an interface and a deferred recover.
func Guard(b Balancer) Balancer {
	if g, ok := b.(guarded); ok {
		return g
	}
	return guarded{b}
}

// guarded is a Balancer under [Guard].
type guarded struct{ Balancer }

// Build calls the guarded Balancer's Build and checks its result.
func (g guarded) Build(servers []Server) (p Picker) {
	defer func() {
		if r := recover(); r != nil {
			p = failingPicker{g.fault(fmt.Sprintf("Build panicked: %v", r))}
		}
	}()
	p = g.Balancer.Build(servers)
	if p == nil {
		return failingPicker{g.fault("Build returned a nil Picker")}
	}
	return &guardedPicker{p: p, n: len(servers), g: g}
}

// fault is the error of a mistake of the guarded Balancer.
func (g guarded) fault(what string) *wire.Error {
	return wire.Errorf(wire.EINTERNAL, fmt.Sprintf("load balancer %q (%T): %s", g.Name(), g.Balancer, what))
}

// guardedPicker is a Picker of the guarded Balancer, with its answers checked.
type guardedPicker struct {
	p Picker
	n int // the length of the list p was built from
	g guarded
}

func (gp *guardedPicker) Pick(r *Request) (i int, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			i, err = -1, gp.g.fault(fmt.Sprintf("Pick panicked: %v", rec))
		}
	}()
	i, err = gp.p.Pick(r)
	if err == nil && (i < 0 || i >= gp.n) {
		return -1, gp.g.fault(fmt.Sprintf("Pick returned index %d, want 0 ≤ index < %d", i, gp.n))
	}
	return i, err
}

// buildError is the guarded Picker's [BuildError], or EINTERNAL naming the guarded Balancer
// when its BuildError panics.
func (gp *guardedPicker) buildError() (err error) {
	defer func() {
		if rec := recover(); rec != nil {
			err = gp.g.fault(fmt.Sprintf("BuildError panicked: %v", rec))
		}
	}()
	return BuildError(gp.p)
}

// failingPicker fails every Pick with a copy of err.
type failingPicker struct{ err *wire.Error }

func (f failingPicker) Pick(*Request) (int, error) {
	e := *f.err
	return -1, &e
}
