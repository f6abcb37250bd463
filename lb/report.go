package lb

import (
	"fmt"
	"strings"

	"github.com/troupe-rpc/troupe/wire"
)

// BuildReporter is implemented by a Picker whose Balancer found servers in the list given to
// Build that it cannot use and left out of the Picker, where brpc would log them: wrr's, for a
// server without a valid weight.
type BuildReporter interface {
	// BuildError returns a [*wire.Error] with code EINVAL naming each server left out, or nil
	// when none was.
	BuildError() error
}

// BuildError returns what p's Balancer found wrong in the list p was built from: p's
// BuildError when p (or the Picker a [Guard] wraps) is a [BuildReporter], else nil. A channel
// calls it after each Build; a nil result says nothing was left out.
func BuildError(p Picker) error {
	if g, ok := p.(*guardedPicker); ok {
		return g.buildError()
	}
	if r, ok := p.(BuildReporter); ok {
		return r.BuildError()
	}
	return nil
}

// invalidWeights lists the servers wrr left out for a weight it could not read.
type invalidWeights []ServerNode

func (iw invalidWeights) err() error {
	if len(iw) == 0 {
		return nil
	}
	return wire.Errorf(wire.EINVAL, iw.text())
}

// text names the servers, the first 8 of them one by one.
func (iw invalidWeights) text() string {
	const shown = 8
	names := make([]string, 0, min(len(iw), shown)+1)
	for _, n := range iw[:min(len(iw), shown)] {
		names = append(names, fmt.Sprintf("%s tag %q", n.Addr, n.Tag))
	}
	if len(iw) > shown {
		names = append(names, fmt.Sprintf("%d more", len(iw)-shown))
	}
	return fmt.Sprintf("wrr left out %d server(s) without a valid weight (a positive Weight or "+
		"a tag that is an unsigned 32-bit integer above 0): %s", len(iw), strings.Join(names, ", "))
}
