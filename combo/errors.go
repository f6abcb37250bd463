package combo

import (
	"fmt"
	"strings"
)

// SubErrors carries the error of every sub-call of a failed combo call, by sub-channel index (nil
// for a sub-call that succeeded or never started). Reach it with errors.As:
//
//	var subs *combo.SubErrors
//	if errors.As(err, &subs) { … subs.Errs[i] … }
//
// errors.Is does not look into it: a parallel call's error is its own code (ETOOMANYFAILS, say),
// not its sub-calls'.
type SubErrors struct {
	Errs []error
}

// Error lists the failed sub-calls as "[C<i>]<error>".
func (s *SubErrors) Error() string {
	var b strings.Builder
	for i, e := range s.Errs {
		if e != nil {
			fmt.Fprintf(&b, "[C%d]%v ", i, e)
		}
	}
	return strings.TrimSpace(b.String())
}

// wrapped keeps a cause and the sub-call errors side by side.
type wrapped struct {
	cause error
	subs  *SubErrors
}

func (w *wrapped) Error() string   { return w.cause.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.cause, w.subs} }
