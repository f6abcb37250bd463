package naming_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
)

// fakeDNS is a DNS server for a net.Resolver that answers every A query with its current
// addresses, every other query with no data, and refuses connections when it has none.
type fakeDNS struct {
	mu    sync.Mutex
	addrs []netip.Addr
}

// set makes the server answer with addrs; no addrs makes every lookup fail.
func (f *fakeDNS) set(addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs = nil
	for _, a := range addrs {
		f.addrs = append(f.addrs, netip.MustParseAddr(a))
	}
}

func (f *fakeDNS) current() []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addrs
}

// resolver returns a pure-Go resolver whose every query goes to f over an in-memory stream.
func (f *fakeDNS) resolver() *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		addrs := f.current()
		if len(addrs) == 0 {
			return nil, errors.New("fake DNS server down")
		}
		client, server := net.Pipe()
		go serveDNS(server, addrs)
		return client, nil
	}}
}

// serveDNS answers the one query of a TCP-framed DNS exchange on c, then closes c.
func serveDNS(c net.Conn, addrs []netip.Addr) {
	defer c.Close()
	var size [2]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return
	}
	q := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(c, q); err != nil || len(q) < 12 {
		return
	}
	resp := dnsAnswer(q, addrs)
	c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(resp))))
	c.Write(resp)
}

// dnsAnswer builds the response to query q (one question): the addresses for type A, none else.
func dnsAnswer(q []byte, addrs []netip.Addr) []byte {
	end := 12
	for end < len(q) && q[end] != 0 { // the question's name: labels up to the root
		end += int(q[end]) + 1
	}
	end += 5 // root label, type, class
	if end > len(q) {
		return nil
	}
	isA := binary.BigEndian.Uint16(q[end-4:]) == 1
	resp := append([]byte{}, q[:2]...)          // ID
	resp = append(resp, 0x81, 0x80)             // response, recursion desired and available, no error
	resp = append(resp, 0, 1, 0, 0, 0, 0, 0, 0) // 1 question; the answer count is set below
	resp = append(resp, q[12:end]...)
	n := 0
	for _, a := range addrs {
		if isA && a.Is4() {
			ip := a.As4()
			resp = append(resp, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4) // name at 12, A, IN, ttl 60s
			resp = append(resp, ip[:]...)
			n++
		}
	}
	binary.BigEndian.PutUint16(resp[6:], uint16(n))
	return resp
}
