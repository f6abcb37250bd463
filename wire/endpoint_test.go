package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/troupe-rpc/troupe/wire"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in     string
		want   wire.Endpoint
		str    string // String(); "" means in
		isIP   bool
		reject bool
	}{
		{in: "127.0.0.1:80", want: wire.Endpoint{Host: "127.0.0.1", Port: 80}, isIP: true},
		{in: "localhost:9000", want: wire.Endpoint{Host: "localhost", Port: 9000}},
		{in: "[::1]:80", want: wire.Endpoint{Host: "::1", Port: 80}, isIP: true},
		{in: "[2001:db8::8:800:200c:417a]:65535", want: wire.Endpoint{Host: "2001:db8::8:800:200c:417a", Port: 65535}, isIP: true},
		{in: "example.com:8080", want: wire.Endpoint{Host: "example.com", Port: 8080}},
		{in: "my-host.internal.:1", want: wire.Endpoint{Host: "my-host.internal.", Port: 1}},
		{in: "0.0.0.0:0", want: wire.Endpoint{Host: "0.0.0.0", Port: 0}, isIP: true},
		{in: " 127.0.0.1:80 ", want: wire.Endpoint{Host: "127.0.0.1", Port: 80}, str: "127.0.0.1:80", isIP: true},
		{in: "\t10.0.0.1:8000\n", want: wire.Endpoint{Host: "10.0.0.1", Port: 8000}, str: "10.0.0.1:8000", isIP: true},
		{in: "127.0.0.1:0080", want: wire.Endpoint{Host: "127.0.0.1", Port: 80}, str: "127.0.0.1:80", isIP: true},
		{in: "unix:/run/echo.sock", want: wire.Endpoint{Path: "/run/echo.sock"}},
		{in: "unix:relative/echo.sock", want: wire.Endpoint{Path: "relative/echo.sock"}},
		{in: " unix:/tmp/a:b ", want: wire.Endpoint{Path: "/tmp/a:b"}, str: "unix:/tmp/a:b"},
	}
	for _, tt := range tests {
		got, err := wire.ParseEndpoint(tt.in)
		if err != nil {
			t.Errorf("ParseEndpoint(%q) = %v, want nil", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseEndpoint(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		str := tt.str
		if str == "" {
			str = tt.in
		}
		if s := got.String(); s != str {
			t.Errorf("ParseEndpoint(%q).String() = %q, want %q", tt.in, s, str)
		}
		if again, err := wire.ParseEndpoint(got.String()); err != nil || again != got {
			t.Errorf("ParseEndpoint(%q) = %+v, %v, want %+v, nil (String round trip)", got.String(), again, err, got)
		}
		if ip := got.IsIP(); ip != tt.isIP {
			t.Errorf("ParseEndpoint(%q).IsIP() = %v, want %v", tt.in, ip, tt.isIP)
		}
		if must := wire.MustParseEndpoint(tt.in); must != got {
			t.Errorf("MustParseEndpoint(%q) = %+v, want %+v", tt.in, must, got)
		}
	}
}

func TestParseEndpointErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // a substring of the error that names the problem
	}{
		{"127.0.0.1:90000", "out of range"},
		{"127.0.0.1:65536", "out of range"},
		{"127.0.0.1:99999999999999999999999", "out of range"},
		{"10.39.2.300:8000", "not a valid IPv4"},
		{"1.2.3:80", "not a valid IPv4"},
		{"127.0.0.1:12345:asdf", "too many colons"},
		{"127.0.0.1", "missing port"},
		{"127.0.0.1:", "missing port"},
		{":80", "missing host"},
		{"127.0.0.1:-1", "not a number"},
		{"127.0.0.1:abc", "not a number"},
		{"127.0.0.1:+80", "not a number"},
		{"[::1", "missing ']'"},
		{"::1:80", "too many colons"},
		{"bad_host!:80", "invalid character '!'"},
		{"-leading.example.com:80", "invalid character '-'"},
		{"a..b:80", "empty or over-long label"},
		{strings.Repeat("a", 64) + ".com:80", "empty or over-long label"},
		{strings.Repeat("a.", 127) + "ab:80", "more than 253"},
		{"[1.2.3.4]:80", "not a valid IPv6"},
		{"[localhost]:80", "not a valid IPv6"},
		{"", "missing port"},
		{"unix:", "missing path"},
		{"unix:/tmp/a b", "contains a blank or a comma"},
		{"unix:/tmp/a,b", "contains a blank or a comma"},
	}
	for _, tt := range tests {
		ep, err := wire.ParseEndpoint(tt.in)
		if !errors.Is(err, wire.ErrBadEndpoint) {
			t.Errorf("ParseEndpoint(%q) = %+v, %v, want %v", tt.in, ep, err, wire.ErrBadEndpoint)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseEndpoint(%q) = %q, want it to mention %q", tt.in, err, tt.want)
		}
		if ep != (wire.Endpoint{}) {
			t.Errorf("ParseEndpoint(%q) = %+v, want the zero Endpoint with the error", tt.in, ep)
		}
	}
}

func TestMustParseEndpointPanics(t *testing.T) {
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, wire.ErrBadEndpoint) {
			t.Errorf("MustParseEndpoint(%q) panicked with %v, want an error matching %v", "nope", r, wire.ErrBadEndpoint)
		}
	}()
	wire.MustParseEndpoint("nope")
}

func TestEndpointNetwork(t *testing.T) {
	for _, tt := range []struct{ in, network, address string }{
		{"127.0.0.1:80", "tcp", "127.0.0.1:80"},
		{"[::1]:80", "tcp", "[::1]:80"},
		{"unix:/run/echo.sock", "unix", "/run/echo.sock"},
	} {
		n, a := wire.MustParseEndpoint(tt.in).Network()
		if n != tt.network || a != tt.address {
			t.Errorf("%q.Network() = %q, %q, want %q, %q", tt.in, n, a, tt.network, tt.address)
		}
	}
}
