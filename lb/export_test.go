package lb

import (
	"time"

	"github.com/spaolacci/murmur3"
)

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

// MurmurHash32 is the hash c_murmurhash places its points with (brpc's MurmurHash32).
func MurmurHash32(key []byte) uint32 { return murmurSum(murmur3.New32(), key) }

// MD5Hash32 is the hash c_md5 places its points with (brpc's MD5Hash32).
func MD5Hash32(key []byte) uint32 { return md5Hash32(key) }

// KetamaWords are the 4 points c_ketama places for one key.
func KetamaWords(key []byte) [4]uint32 { return ketamaWords(key) }
