package lb

import "time"

// SetClock makes b read the time from now: the cluster-recovery hold time of rr and random,
// the sample times of la. It must be called before b is used.
func SetClock(b Balancer, now func() time.Time) {
	switch b := b.(type) {
	case *roundRobin:
		if b.rec != nil {
			b.rec.now = now
		}
	case *randomized:
		if b.rec != nil {
			b.rec.now = now
		}
	case *localityAware:
		b.now, b.epoch = now, now()
	}
}
