package actors

import "testing"

// A large buffer is at most a quarter larger than asked for, and a buffer given back is handed
// out again only for sizes its capacity holds.
func TestLargeBuffersFitTheirSize(t *testing.T) {
	for _, n := range []int{maxPooledBuf + 1, 80 << 10, 128<<10 + 1, 1 << 20, 1<<20 + 100, 3<<20 + 7, 64 << 20} {
		b := getLarge(n)
		if len(b) != n || cap(b) < n || (n > 128<<10 && cap(b) > n+n/4) {
			t.Errorf("getLarge(%d): len %d, cap %d; want len %[1]d and cap at most a quarter more", n, len(b), cap(b))
		}
		putLarge(b)
		for _, m := range []int{n, cap(b), cap(b) + 1} {
			if c := getLarge(m); cap(c) < m {
				t.Errorf("after giving back a buffer of capacity %d, getLarge(%d) has capacity %d", cap(b), m, cap(c))
			}
		}
	}
	if b := getLarge(64<<20 + 1); len(b) != 64<<20+1 {
		t.Errorf("getLarge beyond the largest size: len %d", len(b))
	}
	putLarge(make([]byte, 0, 70<<10)) // between the small pool and the smallest size: dropped
}
