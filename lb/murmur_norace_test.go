//go:build !race

package lb_test

import (
	"testing"

	"github.com/spaolacci/murmur3"

	"github.com/troupe-rpc/troupe/lb"
)

// TestMurmur3Sum32 checks the ring against murmur3.Sum32, the function brpc's c_murmurhash
// mirrors. It is left out under -race, where checkptr aborts inside murmur3.Sum32
// (spaolacci/murmur3#34).
func TestMurmur3Sum32(t *testing.T) {
	for _, key := range murmurKeys() {
		if got, want := murmur3.Sum32([]byte(key)), murmur32([]byte(key), 0); got != want {
			t.Errorf("murmur3.Sum32(%q) = %#x, want %#x", key, got, want)
		}
	}
	ring := lb.NewRing([]lb.ServerNode{{Addr: "127.0.0.1:8000"}}, 3, lb.Murmur3)
	want := map[uint32]bool{}
	for _, key := range []string{"127.0.0.1:8000-0", "127.0.0.1:8000-1", "127.0.0.1:8000-2"} {
		want[murmur3.Sum32([]byte(key))] = true
	}
	for i := range ring.Len() {
		if !want[ring.Point(i).Hash] {
			t.Errorf("ring point %#x is no murmur3.Sum32 of 127.0.0.1:8000-{0,1,2}", ring.Point(i).Hash)
		}
	}
}
