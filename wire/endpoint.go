package wire

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ErrBadEndpoint is matched by every error of [ParseEndpoint].
var ErrBadEndpoint = errors.New("invalid endpoint")

// Endpoint is a server address as brpc accepts it: an IPv4 or IPv6 address or a host name, and a
// port; or, as brpc's "unix:path", the path of a unix domain socket. Its zero value is not a
// valid endpoint.
type Endpoint struct {
	Host string // "127.0.0.1", "::1" (no brackets) or "localhost"
	Port uint16
	Path string // a unix domain socket's path, "/run/echo.sock"; Host and Port are then unset
}

// unixPrefix starts a unix domain socket's endpoint, as in brpc.
const unixPrefix = "unix:"

// ParseEndpoint parses "host:port" with brpc's rules: "127.0.0.1:80", "[::1]:80" and
// "localhost:9000" are valid; a port outside 0..65535, a malformed IP ("10.39.2.300"), a host name
// with characters a DNS name cannot have, or trailing junk ("127.0.0.1:80:x") is an error that
// names what is wrong. It never resolves a name. "unix:path" ("unix:/run/echo.sock") is a unix
// domain socket; its path must not be empty or contain blanks or commas, which separate entries
// of naming lists.
func ParseEndpoint(s string) (Endpoint, error) {
	s = strings.TrimSpace(s)
	if path, ok := strings.CutPrefix(s, unixPrefix); ok {
		switch {
		case path == "":
			return Endpoint{}, endpointErr(s, "missing path of the unix socket")
		case strings.ContainsAny(path, " \t\r\n,"):
			return Endpoint{}, endpointErr(s, "the unix socket's path contains a blank or a comma")
		}
		return Endpoint{Path: path}, nil
	}
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		return Endpoint{}, endpointErr(s, err.Error())
	}
	port, err := parsePort(portText)
	if err != nil {
		return Endpoint{}, endpointErr(s, err.Error())
	}
	if err := checkHost(host, strings.HasPrefix(s, "[")); err != nil {
		return Endpoint{}, endpointErr(s, err.Error())
	}
	return Endpoint{Host: host, Port: port}, nil
}

// MustParseEndpoint is ParseEndpoint for constants in programs and tests; it panics on error.
func MustParseEndpoint(s string) Endpoint {
	ep, err := ParseEndpoint(s)
	if err != nil {
		panic(err)
	}
	return ep
}

// String returns the endpoint as "host:port", with brackets around an IPv6 address, or as
// "unix:path".
func (e Endpoint) String() string {
	if e.Path != "" {
		return unixPrefix + e.Path
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(int(e.Port)))
}

// Network returns the endpoint's network and address as [net.Dial] and [net.Listen] take them:
// ("tcp", "host:port") or ("unix", path).
func (e Endpoint) Network() (network, address string) {
	if e.Path != "" {
		return "unix", e.Path
	}
	return "tcp", e.String()
}

// IsIP reports whether Host is a literal IP address.
func (e Endpoint) IsIP() bool {
	_, err := netip.ParseAddr(e.Host)
	return err == nil
}

func endpointErr(s, why string) error {
	return fmt.Errorf("%w %q: %s", ErrBadEndpoint, s, why)
}

func parsePort(p string) (uint16, error) {
	if p == "" {
		return 0, errors.New("missing port")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("port %q is not a number", p)
		}
	}
	n, err := strconv.ParseUint(p, 10, 32)
	if err != nil || n > 65535 {
		return 0, fmt.Errorf("port %s is out of range 0..65535", p)
	}
	return uint16(n), nil
}

func checkHost(host string, bracketed bool) error {
	if host == "" {
		return errors.New("missing host")
	}
	if bracketed {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Is6() {
			return fmt.Errorf("%q is not a valid IPv6 address", host)
		}
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if looksNumeric(host) {
		return fmt.Errorf("%q is not a valid IPv4 address", host)
	}
	if strings.Contains(host, ":") {
		return fmt.Errorf("%q is not a valid IPv6 address (IPv6 needs brackets: [addr]:port)", host)
	}
	return checkHostName(host)
}

// looksNumeric reports whether host is made of digits and dots only, so that it can only have
// been meant as an IPv4 address.
func looksNumeric(host string) bool {
	for _, c := range host {
		if (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return true
}

func checkHostName(host string) error {
	if len(host) > 253 {
		return fmt.Errorf("host name is %d characters long, more than 253", len(host))
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("host name %q has an empty or over-long label", host)
		}
		for i, c := range label {
			ok := c == '-' && i > 0 && i < len(label)-1 || c == '_' ||
				c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
			if !ok {
				return fmt.Errorf("host name %q has an invalid character %q", host, c)
			}
		}
	}
	return nil
}
