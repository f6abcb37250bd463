package actors

import (
	"testing"
	"testing/synctest"
	"time"
)

// serverLogLimiter lets one warning through per interval and reports how many it held back.
func TestServerLogLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l serverLogLimiter
		if ok, n := l.allow(); !ok || n != 0 {
			t.Fatalf("allow() first = %v, %d; want true, 0", ok, n)
		}
		for i := range 3 {
			if ok, _ := l.allow(); ok {
				t.Fatalf("allow() #%d within %v = true, want false", i+2, serverLogEvery)
			}
		}
		time.Sleep(serverLogEvery)
		if ok, n := l.allow(); !ok || n != 3 {
			t.Fatalf("allow() after %v = %v, %d; want true, 3 held back", serverLogEvery, ok, n)
		}
	})
}
