package combo

import (
	"fmt"
	"strings"

	"github.com/troupe-rpc/troupe/wire"
)

// SubErrors carries the error of every sub-call of a failed combo call, by sub-channel index (nil
// for a sub-call that succeeded or never started). Reach it with errors.As:
//
//	var subs *combo.SubErrors
//	if errors.As(err, &subs) { … subs.Errs[i] … }
//
// errors.Is does not look into it: a parallel call's error is its own code (ETOOMANYFAILS, say),
// not its sub-calls'. Each of Errs is the sub-call's whole error, with its method and server,
// while the call's text shows each in brpc's compact form (see [SubErrors.Error]).
type SubErrors struct {
	Errs []error
}

// Error lists the failed sub-calls as brpc does, "[C<i>][E<code>]<text>": each sub-error's code
// and text, without the method and server the call's own error already names, so that nested
// combo channels do not repeat them. Sub-calls stopped by a reached success limit (EPCHANFINISH)
// are left out, as in the call's text.
func (s *SubErrors) Error() string {
	var b strings.Builder
	for i, e := range s.Errs {
		if e != nil && wire.ErrnoOf(e) != wire.EPCHANFINISH { // stopped, not failed: brpc leaves them out
			fmt.Fprintf(&b, "[C%d]%s ", i, partText(e))
		}
	}
	return strings.TrimSpace(b.String())
}

// partText is a sub-call's error as a part of its call's text: "[E<code>]<text>", its cause
// appended as wire.Error does, without its method and server.
func partText(err error) string {
	if we, ok := err.(*wire.Error); ok {
		compact := *we
		compact.Method, compact.Addr = "", ""
		return compact.Error()
	}
	return fmt.Sprintf("[E%d]%v", int(wire.ErrnoOf(err)), err)
}

// wrapped keeps a cause and the sub-call errors side by side.
type wrapped struct {
	cause error
	subs  *SubErrors
}

func (w *wrapped) Error() string   { return w.cause.Error() }
func (w *wrapped) Unwrap() []error { return []error{w.cause, w.subs} }
