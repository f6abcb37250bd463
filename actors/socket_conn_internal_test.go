package actors

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/troupe-rpc/troupe/wire"
)

// TestSignFirstPutsTheCredentialInTheFirstFrameOnly: the first queued frame gains the credential,
// keeps its payload, attachment and a valid checksum; the frames after it are untouched.
func TestSignFirstPutsTheCredentialInTheFirstFrameOnly(t *testing.T) {
	var out []byte
	for i, msg := range []string{"first", "second"} {
		m := wire.Meta{Service: []byte("example.EchoService"), Method: []byte("Echo"), CorrelationID: int64(i + 1),
			ChecksumType: wire.ChecksumCRC32C, ChecksumWithAttachment: true}
		out = wire.AppendFrame(out, &m, []byte(msg), []byte("att-"+msg))
	}
	c := &sconn{out: out, cred: []byte("secret")}
	if err := (&socketActor{}).signFirst(c); err != nil {
		t.Fatalf("signFirst() = %v", err)
	}
	if c.cred != nil {
		t.Errorf("credential still pending after signing")
	}
	r := wire.NewReader(bufio.NewReader(bytes.NewReader(c.out)), 0)
	for i, want := range []struct{ auth, payload string }{{"secret", "first"}, {"", "second"}} {
		var f wire.Frame
		if err := r.ReadFrame(&f); err != nil {
			t.Fatalf("frame %d: ReadFrame() = %v", i, err)
		}
		if err := wire.VerifyChecksum(&f); err != nil {
			t.Errorf("frame %d: %v", i, err)
		}
		if string(f.Meta.AuthenticationData) != want.auth || (want.auth == "") != (f.Meta.AuthenticationData == nil) {
			t.Errorf("frame %d: authentication_data = %q, want %q", i, f.Meta.AuthenticationData, want.auth)
		}
		if string(f.Payload) != want.payload || string(f.Attachment) != "att-"+want.payload || f.Meta.CorrelationID != int64(i+1) {
			t.Errorf("frame %d = %q + %q (id %d), want %q + %q", i, f.Payload, f.Attachment, f.Meta.CorrelationID, want.payload, "att-"+want.payload)
		}
	}
}
