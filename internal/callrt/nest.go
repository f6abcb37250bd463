package callrt

import "google.golang.org/protobuf/proto"

// StartChildFunc starts a call of a channel as a child of parent, a call of a combo channel: the
// child lives under parent's actor and stops with it, parent's deadline governs it, and it
// reports its end to parent with a [*ChildDone] carrying index instead of running a callback.
// cntl may be nil.
type StartChildFunc func(parent *Call, index int, method string, req, resp proto.Message, cntl *Controller) *Call

// Nest is embedded, under an unexported name, in every channel troupe makes, so that a combo
// channel can start child calls on it ([ChildStarter]) without the channel exporting how.
type Nest struct{ start StartChildFunc }

// MakeNest returns the Nest of a channel whose child calls start.
func MakeNest(start StartChildFunc) Nest { return Nest{start} }

func (n *Nest) childStarter() StartChildFunc { return n.start }

type nested interface{ childStarter() StartChildFunc }

// ChildStarter returns how to start child calls on ch, or nil when ch is not a channel troupe
// made (a user's own, which a combo channel nests through its Go instead), or is one's zero
// value.
func ChildStarter(ch any) (start StartChildFunc) {
	n, ok := ch.(nested)
	if !ok {
		return nil
	}
	defer func() {
		if recover() != nil { // a nil pointer to a channel: the promoted method dereferences it
			start = nil
		}
	}()
	return n.childStarter()
}
