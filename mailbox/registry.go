package mailbox

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Registry is where light actors are registered. It lives beside protoactor's process registry,
// whose string-keyed concurrent map costs a short-lived actor more than its own work: a Light is
// kept here by number, and its PID carries the Registry's address, which protoactor resolves
// through the AddressResolver the Registry installs. So any protoactor code can Send to a Light's
// PID, Stop it or watch it, as with any registered process.
type Registry struct {
	sys     *actor.ActorSystem
	address string
	next    atomic.Uint64
	closed  atomic.Bool
	shards  [registryShards]registryShard
}

const registryShards = 64

// registryShard holds the Lights whose numbers fall to it. Every Light is in lights, at its slot,
// from spawn to stop: a slice with a list of free slots costs a call actor less than a map of
// numbers, and touches no other Light. Only a Light whose PID was made is also in named, by
// number, for protoactor to resolve: most call actors are never named.
type registryShard struct {
	mu     sync.Mutex
	lights []*Light          // nil at free slots
	free   []int32           // free slots of lights
	named  map[uint64]*Light // 64 bytes in all: about a cache line per shard
}

// NewRegistry returns a Registry for sys whose PIDs carry address, which must differ from every
// other address in sys ("nonhost", protoactor's local one, and any remote one).
func NewRegistry(sys *actor.ActorSystem, address string) *Registry {
	r := &Registry{sys: sys, address: address}
	sys.ProcessRegistry.RegisterAddressResolver(r.resolve)
	return r
}

// Address returns the address in the PIDs of the Registry's actors.
func (r *Registry) Address() string { return r.address }

func (r *Registry) shard(n uint64) *registryShard { return &r.shards[n%registryShards] }

func (r *Registry) add(l *Light) {
	l.num = r.next.Add(1)
	s := r.shard(l.num)
	s.mu.Lock()
	if n := len(s.free); n > 0 {
		l.slot = s.free[n-1] + 1
		s.free = s.free[:n-1]
		s.lights[l.slot-1] = l
	} else {
		s.lights = append(s.lights, l)
		l.slot = int32(len(s.lights))
	}
	s.mu.Unlock()
}

func (r *Registry) remove(l *Light) {
	s := r.shard(l.num)
	s.mu.Lock()
	if l.slot > 0 {
		s.lights[l.slot-1] = nil
		if len(s.free)+1 == len(s.lights) {
			s.lights, s.free = s.lights[:0], s.free[:0] // the shard is empty: start over
		} else {
			s.free = append(s.free, l.slot-1)
		}
		l.slot = 0
		if l.pid.Load() != nil {
			delete(s.named, l.num)
		}
	}
	s.mu.Unlock()
}

// name gives l the PID pid unless it has one, and makes l resolvable by number unless it left
// the Registry. A PID is set under the shard's lock, so protoactor resolves it as soon as anyone
// can read it.
func (r *Registry) name(l *Light, pid *actor.PID) {
	s := r.shard(l.num)
	s.mu.Lock()
	if !l.pid.CompareAndSwap(nil, pid) {
		s.mu.Unlock()
		return
	}
	if l.slot > 0 {
		if s.named == nil {
			s.named = make(map[uint64]*Light)
		}
		s.named[l.num] = l
	}
	s.mu.Unlock()
}

// get returns the live Light with number n whose PID was made.
func (r *Registry) get(n uint64) (*Light, bool) {
	s := r.shard(n)
	s.mu.Lock()
	l, ok := s.named[n]
	s.mu.Unlock()
	return l, ok
}

// resolve is protoactor's way into the Registry: the Light a PID of its address names.
func (r *Registry) resolve(pid *actor.PID) (actor.Process, bool) {
	if pid.Address != r.address || r.closed.Load() {
		return nil, false
	}
	n, ok := parseID(pid.Id[strings.LastIndexByte(pid.Id, '$')+1:])
	if !ok {
		return nil, false
	}
	if l, ok := r.get(n); ok {
		return (*process)(l), true
	}
	return nil, false
}

// Len returns how many Lights are registered.
func (r *Registry) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.lights) - len(s.free)
		s.mu.Unlock()
	}
	return n
}

// Each calls fn with every registered Light, one shard of the Registry at a time and with that
// shard locked: a Light fn is given stays registered until fn returns, so that its owner cannot
// reuse its memory meanwhile ([Light.Reusable]). fn must not spawn a Light, run a Light's turn
// (a stop's last turn leaves the Registry) or call the Registry; it may Send to Lights on a
// [Pool], which never runs a turn on the sender's goroutine.
func (r *Registry) Each(fn func(*Light)) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		for _, l := range s.lights {
			if l != nil {
				fn(l)
			}
		}
		s.mu.Unlock()
	}
}

// Close makes the Registry stop answering protoactor: its PIDs resolve to dead letters from now
// on. (protoactor cannot remove an AddressResolver; a closed one declines every PID.)
func (r *Registry) Close() { r.closed.Store(true) }

// idDigits is protoactor's alphabet for registry ids.
const idDigits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ~+"

// appendID appends "$" and n in base 64 with idDigits, most significant digit first.
func appendID(b []byte, n uint64) []byte {
	var buf [12]byte
	i := len(buf)
	for {
		i--
		buf[i] = idDigits[n&63]
		n >>= 6
		if n == 0 {
			break
		}
	}
	b = append(b, '$')
	return append(b, buf[i:]...)
}

// parseID reads a number appendID wrote (without the '$').
func parseID(s string) (uint64, bool) {
	if s == "" || len(s) > 11 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		d := strings.IndexByte(idDigits, s[i])
		if d < 0 {
			return 0, false
		}
		n = n<<6 | uint64(d)
	}
	return n, true
}
