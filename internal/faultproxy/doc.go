// Package faultproxy injects network faults between a client and a server on loopback, for tests.
//
// A [Proxy] listens on 127.0.0.1 and relays every connection it accepts to a target address. Each
// direction of the relay ([Up]: client to server, [Down]: server to client) carries its own faults,
// which may be set and cleared at any time while connections are open: [Proxy.Delay],
// [Proxy.Stall], [Proxy.Blackhole], [Proxy.Throttle], [Proxy.Corrupt], [Proxy.CorruptAt],
// [Proxy.Cut], [Proxy.CutAfter] and [Proxy.Reset]. [Proxy.Refuse] closes new connections as soon
// as they are accepted, [Proxy.CloseConns] closes the open ones, [Proxy.Clear] lifts every fault,
// and [Proxy.Stats] counts connections and bytes.
//
// Byte offsets (CorruptAt, CutAfter) count from the first byte a connection carried in that
// direction, so a test that knows the frames it sends can aim at one field of one frame.
//
// A [FakeServer] answers each baidu_std request with whatever a test function returns: raw
// bytes, a closed or reset connection, or nothing. A [RawClient] writes raw bytes to a server and
// reads frames back. [ListenFull] returns an address whose accept queue is full, so connecting to
// it times out. The frame builders ([Response], [ErrorResponse], [Request], [BadMagic],
// [OversizedHeader], [Truncated]) make the bytes these helpers send.
//
// The package uses only the standard library and package wire; it starts goroutines, each owned by
// the Proxy, FakeServer or RawClient that started it and gone when its Close returns. Everything
// is safe for concurrent use.
package faultproxy
