package actors

import (
	"testing"

	"github.com/troupe-rpc/troupe/mailbox"
)

// A socket's writer yields for more frames only while calls that got their answers have not sent
// again: neither merely because other calls are in flight, nor for a caller that sends alone.
func TestPendingMapIsBusyWhileAnsweredCallsHaveNotSentAgain(t *testing.T) {
	p := pendingMap{m: map[int64]*mailbox.Light{}}
	a, b, c := new(mailbox.Light), new(mailbox.Light), new(mailbox.Light)
	busy := func(step string, want bool) {
		t.Helper()
		if got := p.busy(); got != want {
			t.Fatalf("%s: busy %v, want %v", step, got, want)
		}
	}
	p.put(1, a)
	p.put(2, b)
	busy("two calls in flight, none answered", false)
	if l, last := p.takeLast(1); l != a || last {
		t.Fatalf("takeLast(1) = %p, %v; want a, false", l, last)
	}
	busy("a answered", true)
	p.put(3, a)
	busy("a sent again", false)
	p.take(2)
	p.take(3)
	busy("a and b answered", true)
	p.put(4, a)
	busy("a sent again, b not yet", true)
	p.put(5, b)
	busy("both sent again", false)
	p.put(6, c)
	busy("a third caller sends its first call", false)
	p.take(99)
	busy("an answer nobody waits for", false)
	p.remove(5)
	busy("a call gave up", false)
	p.take(4)
	busy("a answered again", true)
}
