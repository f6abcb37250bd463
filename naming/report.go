package naming

import (
	"context"
	"slices"
	"time"
)

// reporter calls update with the first list it gets and then with each list that differs from
// the one reported before.
type reporter struct {
	update func([]ServerNode)
	last   []ServerNode
	sent   bool
}

// report passes a copy of list to update unless it equals the last list reported.
func (r *reporter) report(list []ServerNode) {
	if r.sent && slices.Equal(r.last, list) {
		return
	}
	r.sent, r.last = true, list
	out := make([]ServerNode, len(list))
	copy(out, list)
	r.update(out)
}

// OnChange returns an update function for a [Service]'s Watch that passes the first list it gets
// to update, then each list that differs from the one passed before, as a copy update may keep.
// Services of a program's own use it to report only changes, as the built-in ones do. The
// function it returns is for one goroutine, the watch's.
func OnChange(update func([]ServerNode)) func([]ServerNode) {
	r := &reporter{update: update}
	return r.report
}

// sleep waits for d or until ctx ends, and reports whether the whole of d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
