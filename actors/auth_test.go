package actors_test

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// countingAuth hands out cred, or fails with err, and counts the credentials it made.
type countingAuth struct {
	cred  string
	err   error
	delay time.Duration
	made  atomic.Int64
}

func (a *countingAuth) GenerateCredential() ([]byte, error) {
	time.Sleep(a.delay) // a slow credential service: must not hold the socket actor
	a.made.Add(1)
	if a.err != nil {
		return nil, a.err
	}
	return []byte(a.cred), nil
}

// serverAuth accepts the credential want and counts what it checked.
type serverAuth struct {
	want              string
	checked, accepted atomic.Int64
}

func (a *serverAuth) VerifyCredential(cred []byte, remote net.Addr) error {
	a.checked.Add(1)
	if remote == nil {
		return errors.New("no remote address")
	}
	if string(cred) != a.want {
		return errors.New("bad credential")
	}
	a.accepted.Add(1)
	return nil
}

// startAuthServer serves the echo service, requiring the credential "secret".
func startAuthServer(t *testing.T, svc *echoservice.Service) (*serverAuth, *countingListener, string) {
	t.Helper()
	sa := &serverAuth{want: "secret"}
	cl, addr := startCounted(t, svc, &actors.ServerOptions{Authenticator: sa}, 0)
	return sa, cl, addr
}

// TestAuthenticationOncePerConnection is brpc's test authentication: the credential is made once
// per connection with single and pooled connections, once per call with short ones.
func TestAuthenticationOncePerConnection(t *testing.T) {
	for _, typ := range connTypes {
		t.Run(typ, func(t *testing.T) {
			svc := &echoservice.Service{Sleep: 5 * time.Millisecond}
			sa, cl, addr := startAuthServer(t, svc)
			sys := newSystem(t)
			auth := &countingAuth{cred: "secret", delay: 5 * time.Millisecond}
			ch, err := sys.NewChannel(addr, &actors.ChannelOptions{ConnectionType: typ, Authenticator: auth,
				MaxConnectionPoolSize: 8, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			const n = 64
			for i, err := range burst(t, ch, n) {
				if err != nil {
					t.Fatalf("call %d = %v", i, err)
				}
			}
			if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
				t.Fatal(err)
			}
			made, conns := auth.made.Load(), cl.accepted.Load()
			switch typ {
			case "single":
				if made != 1 || conns != 1 {
					t.Errorf("single: %d credentials for %d connections, want 1 and 1", made, conns)
				}
			case "pooled":
				if made != conns || conns > 8 {
					t.Errorf("pooled: %d credentials for %d connections, want one per connection, at most 8", made, conns)
				}
			case "short":
				if made != n+1 || conns != n+1 {
					t.Errorf("short: %d credentials for %d connections, want one per call, %d", made, conns, n+1)
				}
			}
			if sa.checked.Load() != conns || sa.accepted.Load() != conns {
				t.Errorf("the server checked %d credentials and accepted %d, want one per connection, %d", sa.checked.Load(), sa.accepted.Load(), conns)
			}
			if svc.Requests() != n+1 {
				t.Errorf("the server handled %d requests, want %d", svc.Requests(), n+1)
			}
			if s := socketNode(sys, addr); s == nil || !strings.Contains(s.State, "with authenticator") {
				t.Errorf("socket = %+v, want it shown with its authenticator", s)
			}
		})
	}
}

// TestUnauthenticatedClientsGetNothing: a wrong credential, or none, gets ERPCAUTH and nothing
// else from a server that requires one.
func TestUnauthenticatedClientsGetNothing(t *testing.T) {
	for _, typ := range connTypes {
		for _, auth := range []actors.Authenticator{&countingAuth{cred: "wrong"}, nil} {
			name := typ + "/no credential"
			if auth != nil {
				name = typ + "/wrong credential"
			}
			t.Run(name, func(t *testing.T) {
				svc := &echoservice.Service{}
				sa, _, addr := startAuthServer(t, svc)
				sys := newSystem(t)
				// A connect slower than the 200ms default on a loaded machine would be retried
				// (ETIMEDOUT) and spoil the count of retries this test checks.
				ch, err := sys.NewChannel(addr, &actors.ChannelOptions{ConnectionType: typ, Authenticator: auth,
					Timeout: 5 * time.Second, ConnectTimeout: 5 * time.Second})
				if err != nil {
					t.Fatal(err)
				}
				resp := &echopb.EchoResponse{}
				var cntl actors.Controller
				err = ch.Call(t.Context(), echoservice.Method, echoReq("x"), resp, &cntl)
				var we *wire.Error
				if !errors.As(err, &we) || we.Code != wire.ERPCAUTH || !we.Remote || !strings.HasPrefix(we.Text, "Fail to authenticate: ") {
					t.Fatalf("Call() = %v, want a remote ERPCAUTH \"Fail to authenticate: …\"", err)
				}
				if resp.GetMessage() != "" || cntl.RetriedCount() != 0 {
					t.Errorf("refused call got %q after %d retries, want nothing and no retry", resp.GetMessage(), cntl.RetriedCount())
				}
				for i, err := range burst(t, ch, 16) {
					if err == nil {
						t.Fatalf("call %d of an unauthenticated client succeeded", i)
					}
				}
				if svc.Requests() != 0 || sa.accepted.Load() != 0 {
					t.Errorf("the server handled %d requests and accepted %d credentials, want none", svc.Requests(), sa.accepted.Load())
				}
			})
		}
	}
}

// TestCredentialFailure: an Authenticator that cannot make a credential fails the calls waiting
// for the connection with ERPCAUTH, at once and without retries.
func TestCredentialFailure(t *testing.T) {
	for _, typ := range connTypes {
		t.Run(typ, func(t *testing.T) {
			svc := &echoservice.Service{}
			_, _, addr := startAuthServer(t, svc)
			sys := newSystem(t)
			auth := &countingAuth{err: errors.New("no ticket")}
			// A call that did not fail at once would wait for its minute-long deadline.
			ch, err := sys.NewChannel(addr, &actors.ChannelOptions{ConnectionType: typ, Authenticator: auth, Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			for i, err := range burst(t, ch, 16) {
				if !errors.Is(err, wire.ERPCAUTH) || !strings.Contains(err.Error(), "no ticket") {
					t.Fatalf("call %d = %v, want ERPCAUTH caused by the Authenticator's error", i, err)
				}
			}
			if el := time.Since(start); el > testTimeout/2 {
				t.Errorf("failing calls took %v, want them to fail at once, not at their deadline", el)
			}
			if svc.Requests() != 0 {
				t.Errorf("the server handled %d requests, want none", svc.Requests())
			}
			if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); !errors.Is(err, wire.ERPCAUTH) {
				t.Fatalf("next call = %v, want ERPCAUTH again", err)
			}
		})
	}
}

// TestServerWithoutAuthenticatorIgnoresCredentials, and channels with different Authenticators
// use different connections.
func TestServerWithoutAuthenticatorIgnoresCredentials(t *testing.T) {
	cl, addr := startCounted(t, &echoservice.Service{}, nil, 0)
	sys := newSystem(t)
	a1, a2 := &countingAuth{cred: "one"}, &countingAuth{cred: "two"}
	for _, a := range []*countingAuth{a1, a2, a1} {
		ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Authenticator: a})
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); err != nil {
			t.Fatalf("Call() = %v", err)
		}
	}
	if a1.made.Load() != 1 || a2.made.Load() != 1 || cl.accepted.Load() != 2 {
		t.Errorf("credentials %d and %d over %d connections, want 1 and 1 over 2", a1.made.Load(), a2.made.Load(), cl.accepted.Load())
	}
}

func TestServerAuthenticatorPanicRefuses(t *testing.T) {
	svc := &echoservice.Service{}
	cl, addr := startCounted(t, svc, &actors.ServerOptions{Authenticator: panicAuth{}}, 0)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, &actors.ChannelOptions{Authenticator: &countingAuth{cred: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Call(t.Context(), echoservice.Method, echoReq("x"), &echopb.EchoResponse{}, nil); !errors.Is(err, wire.ERPCAUTH) {
		t.Fatalf("Call() = %v, want ERPCAUTH", err)
	}
	eventually(t, "the refused connection closed", func() bool { return cl.closed.Load() >= 1 })
	if svc.Requests() != 0 {
		t.Errorf("the server handled %d requests, want none", svc.Requests())
	}
}

type panicAuth struct{}

func (panicAuth) VerifyCredential([]byte, net.Addr) error { panic("boom") }
