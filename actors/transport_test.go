package actors_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/actorstest"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/internal/testcert"
	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// tlsFixture is a certificate authority with a server certificate for 127.0.0.1 and a client
// certificate it signs.
type tlsFixture struct {
	ca     *testcert.CA
	server tls.Certificate
	client tls.Certificate
}

func newTLSFixture(t testing.TB) *tlsFixture {
	t.Helper()
	ca, err := testcert.NewCA("troupe test CA")
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Sign(testcert.Leaf{Name: "echo server", Hosts: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Sign(testcert.Leaf{Name: "echo client", Client: true})
	if err != nil {
		t.Fatal(err)
	}
	return &tlsFixture{ca: ca, server: server, client: client}
}

// tlsEcho is a server answering example.EchoService.Echo with the message, followed by what it
// learnt of the connection: "tls <common name of the client's certificate>" or "plain".
func startTLSEcho(t testing.TB, opts *actors.ServerOptions) string {
	t.Helper()
	srv, err := actors.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	err = actors.Handle(srv, "example.EchoService.Echo", func(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
		how := "plain"
		if st := actors.ServerCallFromContext(ctx).TLS(); st != nil {
			how = "tls"
			if len(st.PeerCertificates) > 0 {
				how += " " + st.PeerCertificates[0].Subject.CommonName
			}
		}
		return &echopb.EchoResponse{Message: proto.String(req.GetMessage() + " " + how)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return serveUntilCleanup(t, srv, "127.0.0.1:0")
}

// serveUntilCleanup serves srv on addr and shuts it down, checking it stops cleanly, when the test ends.
func serveUntilCleanup(t testing.TB, srv *actors.Server, addr string) string {
	t.Helper()
	bound, err := srv.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), actorstest.Timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	})
	return bound.String()
}

func echoOnce(t testing.TB, ch actors.Channel, msg string) (string, error) {
	t.Helper()
	var resp echopb.EchoResponse
	err := ch.Call(t.Context(), "example.EchoService.Echo", actorstest.EchoRequest(msg), &resp, nil)
	return resp.GetMessage(), err
}

// generous options: a loaded machine makes handshakes under the race detector slow.
func tlsChannelOptions(c *tls.Config) *actors.ChannelOptions {
	return &actors.ChannelOptions{TLS: c, ConnectTimeout: 10 * time.Second, Timeout: 30 * time.Second}
}

// TestTLSAndPlainOnOnePort: a server with TLS options serves TLS and plain clients on the same
// port, with every connection type; the handler sees which it was.
func TestTLSAndPlainOnOnePort(t *testing.T) {
	fx := newTLSFixture(t)
	addr := startTLSEcho(t, &actors.ServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{fx.server}}})
	sys := newSystem(t)
	for _, typ := range []string{"single", "pooled", "short"} {
		o := tlsChannelOptions(&tls.Config{RootCAs: fx.ca.Pool()})
		o.ConnectionType = typ
		ch, err := sys.NewChannel(addr, o)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if got, err := echoOnce(t, ch, typ); err != nil || got != typ+" tls" {
				t.Fatalf("%s TLS call = %q, %v, want %q", typ, got, err, typ+" tls")
			}
		}
		plain, err := sys.NewChannel(addr, &actors.ChannelOptions{ConnectionType: typ, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := echoOnce(t, plain, typ); err != nil || got != typ+" plain" {
			t.Fatalf("%s plain call = %q, %v, want %q", typ, got, err, typ+" plain")
		}
	}
	for _, want := range []string{"(single, TLS)", "(pooled, TLS)", "(short, TLS)"} {
		if sys.Inspect().Find(func(n *actors.Node) bool {
			return n.Kind == "socket" && n.Name == addr && strings.HasSuffix(n.State, want)
		}) == nil {
			t.Errorf("Inspect() shows no socket to %s in a state ending %q:\n%s", addr, want, sys.Inspect())
		}
	}
}

// TestTLSManyCallsInFlight: concurrent calls with attachments large enough to be written by the
// backlog goroutine, some large enough to wait behind the write queue in buffers of their own,
// all come back intact over one TLS connection.
func TestTLSManyCallsInFlight(t *testing.T) {
	fx := newTLSFixture(t)
	srv, err := actors.NewServer(&actors.ServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{fx.server}}})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startEchoOn(t, srv)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, tlsChannelOptions(&tls.Config{RootCAs: fx.ca.Pool()}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	size := func(i int) int {
		if i%10 == 0 {
			return 100<<10 + 100*i
		}
		return 1000 * (i%40 + 1)
	}
	calls := make([]*actors.Call, 0, n)
	for i := range n {
		cntl := new(actors.Controller)
		att := []byte(strings.Repeat(string(rune('a'+i%26)), size(i)))
		cntl.SetRequestAttachment(att)
		calls = append(calls, ch.Go(t.Context(), "example.EchoService.Echo", actorstest.EchoRequest("m"), &echopb.EchoResponse{}, cntl, nil))
	}
	actors.Join(calls...)
	for i, c := range calls {
		if err := c.Err(); err != nil {
			t.Fatalf("call %d = %v", i, err)
		}
		want := strings.Repeat(string(rune('a'+i%26)), size(i))
		if got := string(c.Controller().ResponseAttachment()); got != want {
			t.Fatalf("call %d: attachment of %d bytes came back as %d bytes", i, len(want), len(got))
		}
	}
}

// startEchoOn registers the attachment-echoing service on srv and listens on a free port.
func startEchoOn(t testing.TB, srv *actors.Server) (*actors.Server, string) {
	t.Helper()
	if err := (&echoservice.Service{EchoAttachment: true}).Register(srv); err != nil {
		t.Fatal(err)
	}
	return srv, serveUntilCleanup(t, srv, "127.0.0.1:0")
}

// TestMutualTLS: a server that requires client certificates sees the client's; a client without
// one fails at once with ESSL.
func TestMutualTLS(t *testing.T) {
	fx := newTLSFixture(t)
	addr := startTLSEcho(t, &actors.ServerOptions{RequireTLS: true, TLS: &tls.Config{
		Certificates: []tls.Certificate{fx.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: fx.ca.Pool()}})
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, tlsChannelOptions(&tls.Config{RootCAs: fx.ca.Pool(), Certificates: []tls.Certificate{fx.client}}))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := echoOnce(t, ch, "hi"); err != nil || got != "hi tls echo client" {
		t.Fatalf("mTLS call = %q, %v, want %q", got, err, "hi tls echo client")
	}
}

// TestTLSErrors: every way TLS can go wrong ends the call with a code and a text a user can act
// on, long before the call's 30 s deadline.
func TestTLSErrors(t *testing.T) {
	fx := newTLSFixture(t)
	other, err := testcert.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(ca *testcert.CA, l testcert.Leaf) tls.Certificate {
		c, err := ca.Sign(l)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	expired := sign(fx.ca, testcert.Leaf{Name: "expired", Hosts: []string{"127.0.0.1"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	stranger := sign(other, testcert.Leaf{Name: "stranger", Hosts: []string{"127.0.0.1"}})
	elsewhere := sign(fx.ca, testcert.Leaf{Name: "elsewhere", Hosts: []string{"example.com"}})
	serving := func(c tls.Certificate, extra func(*tls.Config)) string {
		cfg := &tls.Config{Certificates: []tls.Certificate{c}}
		if extra != nil {
			extra(cfg)
		}
		return startTLSEcho(t, &actors.ServerOptions{TLS: cfg, RequireTLS: true})
	}
	trusting := &tls.Config{RootCAs: fx.ca.Pool()}
	cases := []struct {
		name   string
		addr   string
		client *tls.Config
		code   wire.Errno
		text   string
	}{
		{"plain client to a TLS-only server", serving(fx.server, nil), nil, wire.ESSL, "The server requires TLS"},
		{"TLS client to a plain server", startTLSEcho(t, nil), trusting, wire.ESSL, "does it serve TLS?"},
		{"expired certificate", serving(expired, nil), trusting, wire.ESSL, "expired"},
		{"certificate of an unknown authority", serving(stranger, nil), trusting, wire.ESSL, "unknown authority"},
		{"certificate for another host", serving(elsewhere, nil), trusting, wire.ESSL, "127.0.0.1"},
		{"missing client certificate", serving(fx.server, func(c *tls.Config) {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, fx.ca.Pool()
		}), trusting, wire.ESSL, "certificate required"},
		// The client has a certificate, but none of an authority the server names: it sends none.
		{"client certificate of another authority", serving(fx.server, func(c *tls.Config) {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, other.Pool()
		}), &tls.Config{RootCAs: fx.ca.Pool(), Certificates: []tls.Certificate{fx.client}}, wire.ESSL, "certificate required"},
	}
	sys := newSystem(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := sys.NewChannel(tc.addr, tlsChannelOptions(tc.client))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 { // the second call meets the same error: the server is not isolated
				_, err := echoOnce(t, ch, "x")
				if i == 0 {
					t.Log(err)
				}
				if !errors.Is(err, tc.code) || !strings.Contains(err.Error(), tc.text) {
					t.Fatalf("call = %v, want %v with %q", err, tc.code, tc.text)
				}
				var we *wire.Error
				if !errors.As(err, &we) {
					t.Fatalf("call = %T, want a *wire.Error", err)
				}
			}
		})
	}
}

// TestTLSCertificateReload: a server whose GetCertificate hands out a new certificate serves it
// to the next connection, without a restart.
func TestTLSCertificateReload(t *testing.T) {
	fx := newTLSFixture(t)
	var current atomic.Pointer[tls.Certificate]
	current.Store(&fx.server)
	addr := startTLSEcho(t, &actors.ServerOptions{TLS: &tls.Config{SessionTicketsDisabled: true, // every handshake a full one
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return current.Load(), nil }}})
	var mu sync.Mutex
	var seen []string
	client := &tls.Config{RootCAs: fx.ca.Pool(), VerifyConnection: func(cs tls.ConnectionState) error {
		mu.Lock()
		seen = append(seen, cs.PeerCertificates[0].Subject.CommonName)
		mu.Unlock()
		return nil
	}}
	sys := newSystem(t)
	o := tlsChannelOptions(client)
	o.ConnectionType = "short"
	ch, err := sys.NewChannel(addr, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := echoOnce(t, ch, "before"); err != nil {
		t.Fatal(err)
	}
	renewed, err := fx.ca.Sign(testcert.Leaf{Name: "renewed server", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	current.Store(&renewed)
	if _, err := echoOnce(t, ch, "after"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 2 || seen[0] != "echo server" || seen[len(seen)-1] != "renewed server" {
		t.Errorf("certificates seen = %q, want the first, then the renewed one", seen)
	}
}

// TestTLSSessionResumption: short connections after the first resume its session rather than
// making a full handshake.
func TestTLSSessionResumption(t *testing.T) {
	fx := newTLSFixture(t)
	addr := startTLSEcho(t, &actors.ServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{fx.server}}})
	var resumed, full atomic.Int64
	client := &tls.Config{RootCAs: fx.ca.Pool(), VerifyConnection: func(cs tls.ConnectionState) error {
		if cs.DidResume {
			resumed.Add(1)
		} else {
			full.Add(1)
		}
		return nil
	}}
	sys := newSystem(t)
	o := tlsChannelOptions(client)
	o.ConnectionType = "short"
	ch, err := sys.NewChannel(addr, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := echoOnce(t, ch, "again"); err != nil {
			t.Fatalf("call %d = %v", i, err)
		}
	}
	if resumed.Load() == 0 {
		t.Errorf("%d full handshakes and no resumed one over 4 short connections", full.Load())
	}
}

// pipeDialer connects channels to a server through in-memory pipes.
type pipeDialer struct {
	conns chan net.Conn
	dials atomic.Int64
}

func (d *pipeDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case d.conns <- server:
		d.dials.Add(1)
		return client, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pipeListener is the server's side of a pipeDialer.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// TestDialerThroughAPipe: a channel with a Dialer reaches a server over in-memory pipes, plain
// and with TLS over the pipe.
func TestDialerThroughAPipe(t *testing.T) {
	fx := newTLSFixture(t)
	srv, err := actors.NewServer(&actors.ServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{fx.server}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := (&echoservice.Service{EchoAttachment: true}).Register(srv); err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn)
	l := &pipeListener{conns: conns, closed: make(chan struct{})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), actorstest.Timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
		if err := <-served; !errors.Is(err, actors.ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	}()
	d := &pipeDialer{conns: conns}
	sys := newSystem(t)
	for _, cfg := range []*tls.Config{nil, {RootCAs: fx.ca.Pool(), ServerName: "localhost"}} {
		o := tlsChannelOptions(cfg)
		o.Dialer = d
		ch, err := sys.NewChannel("127.0.0.1:1", o) // the address only names the server to the Dialer
		if err != nil {
			t.Fatal(err)
		}
		cntl := new(actors.Controller)
		cntl.SetRequestAttachment([]byte("through the pipe"))
		var resp echopb.EchoResponse
		if err := ch.Call(t.Context(), "example.EchoService.Echo", actorstest.EchoRequest("pipe"), &resp, cntl); err != nil {
			t.Fatalf("call through a pipe (TLS %v) = %v", cfg != nil, err)
		}
		if got := string(cntl.ResponseAttachment()); got != "through the pipe" {
			t.Fatalf("attachment = %q, want %q", got, "through the pipe")
		}
	}
	if n := d.dials.Load(); n != 2 {
		t.Errorf("%d dials, want 2 (one per channel: they do not share the connection)", n)
	}
}

// TestTransportOptionErrors: options that cannot work are refused with a text naming them.
func TestTransportOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		opts *actors.ServerOptions
		want string
	}{
		{&actors.ServerOptions{RequireTLS: true}, "RequireTLS is set without ServerOptions.TLS"},
		{&actors.ServerOptions{TLS: &tls.Config{}}, "ServerOptions.TLS has no certificate"},
		{&actors.ServerOptions{TLS: &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return nil, nil }},
			TLSHandshakeTimeout: -1}, "TLSHandshakeTimeout"},
	} {
		if _, err := actors.NewServer(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewServer(%+v) = %v, want an error with %q", *tc.opts, err, tc.want)
		}
	}
	sys := newSystem(t)
	if _, err := sys.NewChannel("127.0.0.1:1", &actors.ChannelOptions{Dialer: funcDialer(nil)}); err == nil ||
		!strings.Contains(err.Error(), "Dialer of type actors_test.funcDialer is not comparable") {
		t.Errorf("NewChannel(non-comparable Dialer) = %v, want an error naming it", err)
	}
}

type funcDialer func(ctx context.Context, network, addr string) (net.Conn, error)

func (f funcDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// TestUnixSocketEndpoints: "unix:path" endpoints work for Server.Listen, single-server channels
// of every connection type, naming lists and TLS over a unix socket.
func TestUnixSocketEndpoints(t *testing.T) {
	fx := newTLSFixture(t)
	dir := t.TempDir()
	var addrs []string
	for i := range 2 {
		srv, err := actors.NewServer(&actors.ServerOptions{TLS: &tls.Config{Certificates: []tls.Certificate{fx.server}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := (&echoservice.Service{Index: int32(i)}).Register(srv); err != nil {
			t.Fatal(err)
		}
		want := "unix:" + dir + "/echo" + string(rune('a'+i)) + ".sock"
		addr, err := srv.Listen(want)
		if err != nil {
			t.Fatal(err)
		}
		if addr.Network() != "unix" {
			t.Fatalf("Listen(%q) bound %s %s, want a unix socket", want, addr.Network(), addr)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), actorstest.Timeout)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown() = %v", err)
			}
		})
		addrs = append(addrs, want)
	}
	sys := newSystem(t)
	for _, typ := range []string{"single", "pooled", "short"} {
		ch, err := sys.NewChannel(addrs[0], &actors.ChannelOptions{ConnectionType: typ, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var resp echopb.EchoResponse
		if err := ch.Call(t.Context(), echoservice.Method, actorstest.EchoRequest(typ), &resp, nil); err != nil || resp.GetMessage() != typ {
			t.Fatalf("%s call over %s = %q, %v", typ, addrs[0], resp.GetMessage(), err)
		}
	}
	tlsOpts := tlsChannelOptions(&tls.Config{RootCAs: fx.ca.Pool(), ServerName: "localhost"})
	ch, err := sys.NewChannel(addrs[1], tlsOpts)
	if err != nil {
		t.Fatal(err)
	}
	cntl := new(actors.Controller)
	if err := ch.Call(t.Context(), echoservice.Method, actorstest.EchoRequest("tls"), &echopb.EchoResponse{}, cntl); err != nil {
		t.Fatalf("TLS call over %s = %v", addrs[1], err)
	}
	if got := cntl.RemoteSide(); got != addrs[1] {
		t.Errorf("RemoteSide() = %q, want %q", got, addrs[1])
	}
	cluster, err := sys.NewChannel("list://"+strings.Join(addrs, ","), &actors.ChannelOptions{LoadBalancer: "rr", Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int32]bool{}
	for range 4 {
		var resp echopb.EchoResponse
		if err := cluster.Call(t.Context(), echoservice.Method, actorstest.EchoRequest("rr"), &resp, nil); err != nil {
			t.Fatalf("cluster call = %v", err)
		}
		seen[resp.GetServerIndex()] = true
	}
	if len(seen) != 2 {
		t.Errorf("round robin over two unix sockets reached servers %v, want both", seen)
	}
	if _, err := sys.NewChannel("unix:", nil); err == nil || !strings.Contains(err.Error(), "missing path") {
		t.Errorf(`NewChannel("unix:") = %v, want an error naming the missing path`, err)
	}
}

// TestTLSWithAuthenticator: the credential of the first request travels inside the TLS
// connection, once per connection.
func TestTLSWithAuthenticator(t *testing.T) {
	fx := newTLSFixture(t)
	sa := &serverAuth{want: "secret"}
	srv, err := actors.NewServer(&actors.ServerOptions{Authenticator: sa, RequireTLS: true,
		TLS: &tls.Config{Certificates: []tls.Certificate{fx.server}}})
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startEchoOn(t, srv)
	sys := newSystem(t)
	ca := &countingAuth{cred: "secret"}
	o := tlsChannelOptions(&tls.Config{RootCAs: fx.ca.Pool()})
	o.Authenticator = ca
	ch, err := sys.NewChannel(addr, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := echoOnce(t, ch, "authed"); err != nil {
			t.Fatalf("call %d = %v", i, err)
		}
	}
	if made, accepted := ca.made.Load(), sa.accepted.Load(); made != 1 || accepted != 1 {
		t.Errorf("credentials made %d, accepted %d, want 1 and 1 for one TLS connection", made, accepted)
	}
}

// TestTLSHealthCheckRevives: a TLS server that went away and comes back on the same address is
// found again by the health checker, whose connections are TLS too.
func TestTLSHealthCheckRevives(t *testing.T) {
	fx := newTLSFixture(t)
	serve := func(addr string) (*actors.Server, string) {
		srv, err := actors.NewServer(&actors.ServerOptions{RequireTLS: true, TLS: &tls.Config{Certificates: []tls.Certificate{fx.server}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := (&echoservice.Service{}).Register(srv); err != nil {
			t.Fatal(err)
		}
		a, err := srv.Listen(addr)
		if err != nil {
			t.Fatal(err)
		}
		return srv, a.String()
	}
	shutdown := func(srv *actors.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), actorstest.Timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	}
	srv, addr := serve("127.0.0.1:0")
	sys := newSystem(t)
	o := tlsChannelOptions(&tls.Config{RootCAs: fx.ca.Pool()})
	o.HealthCheckInterval = 20 * time.Millisecond
	o.MaxRetry = actors.NoRetry
	ch, err := sys.NewChannel(addr, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := echoOnce(t, ch, "up"); err != nil {
		t.Fatal(err)
	}
	shutdown(srv)
	actorstest.Eventually(t, "the server to be isolated once it is gone", func() bool {
		_, err := echoOnce(t, ch, "gone")
		return errors.Is(err, wire.EHOSTDOWN)
	})
	srv, _ = serve(addr)
	defer shutdown(srv)
	actorstest.Eventually(t, "the health checker to find the server again over TLS", func() bool {
		_, err := echoOnce(t, ch, "back")
		return err == nil
	})
}
