package naming_test

import (
	"testing"

	"github.com/troupe-rpc/troupe/naming"
)

func TestOnChangePassesOnlyChanges(t *testing.T) {
	var got [][]naming.ServerNode
	report := naming.OnChange(func(l []naming.ServerNode) { got = append(got, l) })
	a := []naming.ServerNode{{Addr: "127.0.0.1:1"}}
	b := []naming.ServerNode{{Addr: "127.0.0.1:2"}}
	for _, l := range [][]naming.ServerNode{nil, nil, a, a, b, a} {
		report(l)
	}
	if len(got) != 4 || len(got[0]) != 0 || got[1][0] != a[0] || got[2][0] != b[0] || got[3][0] != a[0] {
		t.Fatalf("OnChange passed %v, want [], a, b, a", got)
	}
	a[0].Addr = "changed"
	if got[1][0].Addr != "127.0.0.1:1" {
		t.Errorf("OnChange passed the caller's slice, not a copy")
	}
}
