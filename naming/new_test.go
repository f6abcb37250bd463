package naming_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/naming"
)

func TestNewUnknownScheme(t *testing.T) {
	opts := &naming.Options{Schemes: map[string]naming.Builder{"zk": func(string, *naming.Options) (naming.Service, error) {
		return naming.NewManual(), nil
	}}}
	_, err := naming.New("bns://rdev.matrix.all", opts)
	if !errors.Is(err, naming.ErrUnknownScheme) {
		t.Fatalf("New(bns://…) = %v, want %v", err, naming.ErrUnknownScheme)
	}
	if want := "(known: file, http, https, list, zk)"; !strings.Contains(err.Error(), want) ||
		!strings.Contains(err.Error(), `"bns"`) {
		t.Errorf("New(bns://…) = %q, want it to name \"bns\" and contain %q", err, want)
	}
}

func TestNewEtcdNotPluggedIn(t *testing.T) {
	for _, url := range []string{"etcd://127.0.0.1:2379/svc", "ETCD://127.0.0.1:2379/svc"} {
		_, err := naming.New(url, nil)
		if !errors.Is(err, naming.ErrUnknownScheme) {
			t.Fatalf("New(%q) = %v, want %v", url, err, naming.ErrUnknownScheme)
		}
		for _, want := range []string{`import "github.com/troupe-rpc/troupe/naming/etcd"`, `"etcd": etcd.Scheme(nil)`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("New(%q) = %q, want it to contain %q", url, err, want)
			}
		}
	}
	_, err := naming.New("zk://127.0.0.1:2181/svc", nil)
	if err == nil || strings.Contains(err.Error(), "naming/etcd") {
		t.Errorf("New(zk://…) = %v, want an unknown-scheme error without the etcd hint", err)
	}
}

func TestNewBadURL(t *testing.T) {
	for _, url := range []string{"", "127.0.0.1:80", "file:/x"} {
		if _, err := naming.New(url, nil); err == nil {
			t.Errorf("New(%q) = nil error, want an error", url)
		}
	}
}

func TestNewBadOptions(t *testing.T) {
	for _, tt := range []struct {
		opts  naming.Options
		field string
	}{
		{naming.Options{FileInterval: -1}, "FileInterval"},
		{naming.Options{DNSInterval: -1}, "DNSInterval"},
		{naming.Options{Schemes: map[string]naming.Builder{"x": nil}}, "Schemes"},
	} {
		_, err := naming.New("list://", &tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.field) {
			t.Errorf("New(list://, %+v) = %v, want an error naming %s", tt.opts, err, tt.field)
		}
	}
}

func TestNewUserScheme(t *testing.T) {
	m := naming.NewManual()
	m.Update(nodes("127.0.0.1:5"))
	var gotTarget string
	var gotOpts *naming.Options
	opts := &naming.Options{Schemes: map[string]naming.Builder{"Mine": func(target string, o *naming.Options) (naming.Service, error) {
		gotTarget, gotOpts = target, o
		return m, nil
	}}}
	w := watch(t, mustNew(t, "mINE://some/where", opts))
	if got, want := w.next(t), nodes("127.0.0.1:5"); !equal(got, want) {
		t.Errorf("Watch(mine://) = %v, want %v", got, want)
	}
	if gotTarget != "some/where" {
		t.Errorf("Builder target = %q, want %q", gotTarget, "some/where")
	}
	if gotOpts == nil || gotOpts.FileInterval != naming.DefaultFileInterval || gotOpts.Logger == nil {
		t.Errorf("Builder opts = %+v, want defaults filled in", gotOpts)
	}
}

func TestNewUserSchemeReplacesBuiltin(t *testing.T) {
	m := naming.NewManual()
	m.Update(nodes("127.0.0.1:6"))
	opts := &naming.Options{Schemes: map[string]naming.Builder{"file": func(string, *naming.Options) (naming.Service, error) {
		return m, nil
	}}}
	w := watch(t, mustNew(t, "file:///does/not/exist", opts))
	if got, want := w.next(t), nodes("127.0.0.1:6"); !equal(got, want) {
		t.Errorf("Watch(user file://) = %v, want %v", got, want)
	}
}

func TestWatchEndsWithContext(t *testing.T) {
	for _, url := range []string{"list://127.0.0.1:1", "http://127.0.0.1"} {
		svc := mustNew(t, url, nil)
		ctx, cancel := context.WithCancel(context.Background())
		n := 0
		err := svc.Watch(ctx, func([]naming.ServerNode) { n++; cancel() })
		if !errors.Is(err, context.Canceled) || n != 1 {
			t.Errorf("Watch(%s) = %v after %d reports, want %v after 1", url, err, n, context.Canceled)
		}
	}
}
