package naming_test

import (
	"testing"

	"github.com/troupe-rpc/troupe/naming"
)

func TestList(t *testing.T) {
	tests := []struct {
		url  string
		want []naming.ServerNode
	}{
		{"list://", nodes()},
		{"list:// ", nodes()},
		{"list://blahblah", nodes()},
		{"list://127.0.0.1:7777", nodes("127.0.0.1:7777")},
		{"list://127.0.0.1:7777 50, 127.0.0.1:7778 50", nodes("127.0.0.1:7777 50", "127.0.0.1:7778 50")},
		{"list://127.0.0.1:1,,127.0.0.1:2 a b # c,bad,127.0.0.1:1", nodes("127.0.0.1:1", "127.0.0.1:2 a b")},
		{"list://[::1]:80 x,localhost:9000", nodes("[::1]:80 x", "localhost:9000")},
		{"LIST://127.0.0.1:1", nodes("127.0.0.1:1")},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			w := watch(t, mustNew(t, tt.url, nil))
			if got := w.next(t); !equal(got, tt.want) {
				t.Errorf("Watch(%q) = %v, want %v", tt.url, got, tt.want)
			}
		})
	}
}

func TestListWarnsAboutBadEntry(t *testing.T) {
	log, buf := newLog()
	w := watch(t, mustNew(t, "list://127.0.0.1:1,10.39.2.300:8000", &naming.Options{Logger: log}))
	if got, want := w.next(t), nodes("127.0.0.1:1"); !equal(got, want) {
		t.Errorf("Watch() = %v, want %v", got, want)
	}
	buf.waitFor(t, "entry 2")
}
