package naming_test

import (
	"strings"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/naming"
)

// fastDNS resolves every 20ms.
var fastDNS = naming.Options{DNSInterval: 20 * time.Millisecond}

func TestDNSLiteral(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want []naming.ServerNode
	}{
		{"http://127.0.0.1", nodes("127.0.0.1:80")},
		{"https://127.0.0.1/path", nodes("127.0.0.1:443")},
		{"http://127.0.0.1:8080/a/b?c", nodes("127.0.0.1:8080")},
		{"HTTPS://[::1]", nodes("[::1]:443")},
		{"http://[::1]:8080/", nodes("[::1]:8080")},
	} {
		w := watch(t, mustNew(t, tt.url, &fastDNS))
		if got := w.next(t); !equal(got, tt.want) {
			t.Errorf("Watch(%s) = %v, want %v", tt.url, got, tt.want)
		}
		w.none(t, 100*time.Millisecond) // the same answer is not reported again
	}
}

func TestDNSLocalhost(t *testing.T) {
	w := watch(t, mustNew(t, "http://localhost:8080", &fastDNS))
	got := w.next(t)
	has4 := false
	for _, n := range got {
		has4 = has4 || n.Addr == "127.0.0.1:8080"
		if n.Addr != "127.0.0.1:8080" && n.Addr != "[::1]:8080" || n.Tag != "" {
			t.Errorf("Watch(http://localhost:8080) has %v, want only 127.0.0.1:8080 or [::1]:8080, no tag", n)
		}
	}
	if !has4 {
		t.Errorf("Watch(http://localhost:8080) = %v, want 127.0.0.1:8080 in it", got)
	}
}

func TestDNSFailure(t *testing.T) {
	log, buf := newLog()
	opts := fastDNS
	opts.Logger = log
	w := watch(t, mustNew(t, "http://nonexistent.invalid", &opts))
	if got := w.next(t); len(got) != 0 {
		t.Errorf("first list of http://nonexistent.invalid = %v, want []", got)
	}
	buf.waitFor(t, "cannot resolve")
	w.none(t, 100*time.Millisecond) // later failures report nothing
}

// TestDNSRefresh resolves a name through a fake DNS server whose answer changes and then fails:
// each new answer is reported, and a failure keeps the last list.
func TestDNSRefresh(t *testing.T) {
	dns := &fakeDNS{}
	dns.set("127.0.0.2")
	log, buf := newLog()
	opts := naming.Options{DNSInterval: 10 * time.Millisecond, Resolver: dns.resolver(), Logger: log}
	w := watch(t, mustNew(t, "http://svc.example.test:81/x", &opts))
	w.waitFor(t, nodes("127.0.0.2:81"))
	dns.set("127.0.0.4", "127.0.0.3", "127.0.0.4")
	w.waitFor(t, nodes("127.0.0.3:81", "127.0.0.4:81"))
	dns.set() // fails from now on
	buf.waitFor(t, "cannot resolve")
	w.none(t, 100*time.Millisecond)
	dns.set("127.0.0.5")
	w.waitFor(t, nodes("127.0.0.5:81"))
}

func TestDNSBadHost(t *testing.T) {
	for _, url := range []string{"http://", "http://bad host", "https://127.0.0.1:99999", "http://::1", "http://a..b"} {
		_, err := naming.New(url, nil)
		if err == nil || !strings.Contains(err.Error(), "bad host") {
			t.Errorf("New(%q) = %v, want a bad host error", url, err)
		}
	}
}
