package lb_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/lb"
	"github.com/troupe-rpc/troupe/wire"
)

// scripted is a Balancer whose Build and Pick do what a test says.
type scripted struct {
	build    func([]lb.Server) lb.Picker
	feedback []lb.Feedback
}

func (s *scripted) Build(servers []lb.Server) lb.Picker { return s.build(servers) }
func (s *scripted) Feedback(f lb.Feedback)              { s.feedback = append(s.feedback, f) }
func (s *scripted) Name() string                        { return "scripted" }

// pickFunc is a function that is a Picker.
type pickFunc func(*lb.Request) (int, error)

func (f pickFunc) Pick(r *lb.Request) (int, error) { return f(r) }

func TestGuard(t *testing.T) {
	own := wire.Errorf(wire.EHOSTDOWN, "nothing I like")
	for _, tt := range []struct {
		name  string
		build func([]lb.Server) lb.Picker
		want  int
		code  wire.Errno // 0: no error
		text  string     // in the error's text
	}{
		{"good pick", func([]lb.Server) lb.Picker { return pickFunc(func(*lb.Request) (int, error) { return 1, nil }) }, 1, 0, ""},
		{"own error", func([]lb.Server) lb.Picker { return pickFunc(func(*lb.Request) (int, error) { return -1, own }) }, -1, wire.EHOSTDOWN, "nothing I like"},
		{"nil Picker", func([]lb.Server) lb.Picker { return nil }, -1, wire.EINTERNAL, "Build returned a nil Picker"},
		{"Build panics", func([]lb.Server) lb.Picker { panic("no list for me") }, -1, wire.EINTERNAL, "Build panicked: no list for me"},
		{"Pick panics", func([]lb.Server) lb.Picker { return pickFunc(func(*lb.Request) (int, error) { panic("boom") }) }, -1, wire.EINTERNAL, "Pick panicked: boom"},
		{"index too big", func([]lb.Server) lb.Picker { return pickFunc(func(*lb.Request) (int, error) { return 2, nil }) }, -1, wire.EINTERNAL, "Pick returned index 2, want 0 ≤ index < 2"},
		{"negative index", func([]lb.Server) lb.Picker { return pickFunc(func(*lb.Request) (int, error) { return -1, nil }) }, -1, wire.EINTERNAL, "Pick returned index -1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := lb.Guard(&scripted{build: tt.build})
			i, err := b.Build(mkServers(2)).Pick(&lb.Request{})
			if tt.code == 0 {
				if i != tt.want || err != nil {
					t.Fatalf("Pick() = %d, %v, want %d, nil", i, err, tt.want)
				}
				return
			}
			wantCode(t, "Pick()", err, tt.code)
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Pick() = %q, want it to contain %q", err, tt.text)
			}
			if tt.code == wire.EINTERNAL && !strings.Contains(err.Error(), `"scripted"`) {
				t.Errorf("Pick() = %q, want it to name the balancer \"scripted\"", err)
			}
		})
	}
}

func TestGuardPassesThrough(t *testing.T) {
	s := &scripted{build: func([]lb.Server) lb.Picker { return nil }}
	b := lb.Guard(s)
	if got := b.Name(); got != "scripted" {
		t.Errorf("Name() = %q, want %q", got, "scripted")
	}
	b.Feedback(lb.Feedback{Server: lb.ServerNode{Addr: "127.0.0.1:1"}})
	if len(s.feedback) != 1 || s.feedback[0].Server.Addr != "127.0.0.1:1" {
		t.Errorf("Feedback reached the balancer as %v, want one for 127.0.0.1:1", s.feedback)
	}
	if again := lb.Guard(b); again != b {
		t.Errorf("Guard(Guard(b)) = %v, want Guard(b) itself", again)
	}
	_, err1 := b.Build(nil).Pick(&lb.Request{})
	p := b.Build(nil)
	_, err2 := p.Pick(&lb.Request{})
	_, err3 := p.Pick(&lb.Request{})
	var e2, e3 *wire.Error
	if !errors.As(err2, &e2) || !errors.As(err3, &e3) || e2 == e3 || err1 == nil {
		t.Errorf("Pick() twice = %p, %p, want two distinct *wire.Error values", err2, err3)
	}
}
