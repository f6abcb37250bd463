package wire_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/wire"
	"github.com/troupe-rpc/troupe/wire/metapb"
)

// fuzzMaxBody bounds the bodies FuzzReadFrame accepts: above the Reader's read chunk, so that
// growing bodies are exercised, and small enough to keep the fuzzer fast.
const fuzzMaxBody = 4 << 20

// frameSeeds are hand-made frames, valid and not, for the fuzzers' corpora.
func frameSeeds() [][]byte {
	full := crossMetas[0].meta
	return [][]byte{
		echoFrame(1, []byte("\x0a\x05hello"), nil),
		echoFrame(2, []byte("payload"), []byte("attachment")),
		wire.AppendFrame(nil, &full, []byte("payload"), []byte("att")),
		func() []byte {
			m := wire.Meta{IsResponse: true, ErrorCode: 1008, ErrorText: []byte("[E1008]Reached timeout"), CorrelationID: 3}
			return wire.AppendFrame(nil, &m, nil, nil)
		}(),
		// checksum_type 1 with an empty checksum_value right before the payload.
		rawFrame(wire.AppendMeta(nil, &wire.Meta{Service: []byte("S"), Method: []byte("M"), ChecksumType: 1}), []byte("payload")),
		// Two frames back to back.
		append(echoFrame(4, []byte("a"), nil), echoFrame(5, []byte("b"), []byte("c"))...),
		header(0, 0),
		header(60<<20, 0),
		append(header(5, 6), "12345"...),
		rawFrame([]byte{0xff, 0xff}, nil),
		rawFrame(wire.AppendMeta(nil, &wire.Meta{AttachmentSize: 100}), []byte("short")),
		[]byte("PRPC"),
		[]byte("GET / HTTP/1.1\r\n\r\n"),
	}
}

// FuzzReadFrame reads frames from arbitrary bytes. It must never panic, fail only with io.EOF or a
// *FrameError, and every frame it accepts must survive AppendFrame and another ReadFrame unchanged.
func FuzzReadFrame(f *testing.F) {
	for _, c := range allCaptures(f) {
		f.Add(c.frame)
	}
	for _, b := range frameSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newReader(data, fuzzMaxBody)
		var fr wire.Frame
		for range 4 {
			err := r.ReadFrame(&fr)
			if err == io.EOF {
				return
			}
			var fe *wire.FrameError
			if err != nil && !errors.As(err, &fe) {
				t.Fatalf("ReadFrame(%x) = %T %v, want io.EOF or a *wire.FrameError", data, err, err)
			}
			if errors.Is(err, wire.ErrAttachmentSize) {
				continue // the frame was consumed; the next one can be read
			}
			if err != nil {
				return
			}
			checkFrameRoundTrip(t, &fr)
		}
	})
}

// checkFrameRoundTrip re-encodes fr and checks that the result decodes to the same frame.
func checkFrameRoundTrip(t *testing.T, fr *wire.Frame) {
	t.Helper()
	h, err := wire.ParseHeader(append(header(uint32(len(fr.Body)), 0), fr.Body...))
	if err != nil {
		t.Fatalf("ParseHeader(body of an accepted frame) = %v", err)
	}
	metaSize := len(fr.Body) - len(fr.Payload) - len(fr.Attachment)
	if metaSize < 0 || int(h.BodySize) != len(fr.Body) || len(fr.Attachment) != int(fr.Meta.AttachmentSize) {
		t.Fatalf("ReadFrame: len(Body), len(Payload), len(Attachment), AttachmentSize = %d, %d, %d, %d, want consistent",
			len(fr.Body), len(fr.Payload), len(fr.Attachment), fr.Meta.AttachmentSize)
	}
	checksumErr := wire.VerifyChecksum(fr)
	if checksumErr != nil && !errors.Is(checksumErr, wire.ErrChecksum) {
		t.Fatalf("VerifyChecksum = %v, want nil or %v", checksumErr, wire.ErrChecksum)
	}

	// AppendFrame writes into its meta: give it copies that alias nothing of fr.
	meta := cloneMeta(&fr.Meta)
	payload, attachment := cloneBytes(fr.Payload), cloneBytes(fr.Attachment)
	out := wire.AppendFrame(nil, &meta, payload, attachment)

	var again wire.Frame
	r := newReader(out, 0)
	if err := r.ReadFrame(&again); err != nil {
		t.Fatalf("ReadFrame(AppendFrame(decoded frame)) = %v\nframe: %x", err, out)
	}
	if err := r.ReadFrame(&again); err != io.EOF {
		t.Fatalf("second ReadFrame(AppendFrame(decoded frame)) = %v, want io.EOF", err)
	}
	if err := r.ReadFrame(&again); err != io.EOF {
		t.Fatalf("third ReadFrame(AppendFrame(decoded frame)) = %v, want io.EOF", err)
	}
	r = newReader(out, 0)
	if err := r.ReadFrame(&again); err != nil {
		t.Fatalf("ReadFrame(AppendFrame(decoded frame)) = %v", err)
	}

	want := reencodable(&fr.Meta)
	got := cloneMeta(&again.Meta)
	if want.ChecksumType == wire.ChecksumCRC32C {
		if err := wire.VerifyChecksum(&again); err != nil {
			t.Errorf("VerifyChecksum(AppendFrame(decoded frame)) = %v, want nil (AppendFrame computes it)", err)
		}
		if checksumErr != nil {
			// AppendFrame replaced the wrong checksum with the right one.
			got.ChecksumValue, want.ChecksumValue = nil, nil
		}
	}
	for _, d := range metaDiff(&got, &want) {
		t.Errorf("ReadFrame(AppendFrame(decoded frame)): Meta.%s", d)
	}
	if !bytes.Equal(again.Payload, fr.Payload) || !bytes.Equal(again.Attachment, fr.Attachment) {
		t.Errorf("ReadFrame(AppendFrame(decoded frame)): Payload, Attachment = %x, %x, want %x, %x",
			again.Payload, again.Attachment, fr.Payload, fr.Attachment)
	}

	// A frame troupe wrote re-encodes to the same bytes.
	meta2 := cloneMeta(&again.Meta)
	if out2 := wire.AppendFrame(nil, &meta2, again.Payload, again.Attachment); !bytes.Equal(out2, out) {
		t.Errorf("AppendFrame(ReadFrame(AppendFrame(x))) =\n%x, want\n%x", out2, out)
	}
}

// FuzzDecodeMeta decodes arbitrary bytes as an RpcMeta. It must never panic; a meta it accepts must
// survive AppendMeta and DecodeMeta unchanged; and it must accept whatever the generated protobuf
// decoder accepts, with the same field values.
func FuzzDecodeMeta(f *testing.F) {
	for _, c := range allCaptures(f) {
		h, err := wire.ParseHeader(c.frame)
		if err != nil {
			f.Fatalf("%v: ParseHeader = %v", c, err)
		}
		f.Add(c.frame[wire.HeaderSize : wire.HeaderSize+int(h.MetaSize)])
	}
	for _, tt := range crossMetas {
		f.Add(wire.AppendMeta(nil, &tt.meta))
	}
	f.Add(appendUnknowns(wire.AppendMeta(nil, &crossMetas[0].meta), 100))
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Add([]byte{0x33, 0x08, 0x01, 0x34})
	f.Fuzz(func(t *testing.T, data []byte) {
		var m wire.Meta
		err := wire.DecodeMeta(data, &m)
		if err != nil && !errors.Is(err, wire.ErrBadMeta) {
			t.Fatalf("DecodeMeta(%x) = %v, want nil or %v", data, err, wire.ErrBadMeta)
		}

		var pb metapb.RpcMeta
		pbErr := proto.UnmarshalOptions{AllowPartial: true}.Unmarshal(data, &pb)
		if pbErr == nil && err != nil {
			t.Fatalf("DecodeMeta(%x) = %v, want nil: proto.Unmarshal accepts it", data, err)
		}
		if err != nil {
			return
		}
		if pbErr == nil {
			checkAgainstPB(t, data, &m, &pb)
		}

		enc := wire.AppendMeta(nil, &m)
		if got, want := wire.MetaSize(&m), len(enc); got != want {
			t.Fatalf("MetaSize(DecodeMeta(%x)) = %d, want %d", data, got, want)
		}
		var again wire.Meta
		if err := wire.DecodeMeta(enc, &again); err != nil {
			t.Fatalf("DecodeMeta(AppendMeta(DecodeMeta(%x))) = %v\nmeta: %x", data, err, enc)
		}
		want := reencodable(&m)
		for _, d := range metaDiff(&again, &want) {
			t.Errorf("DecodeMeta(AppendMeta(DecodeMeta(%x))): Meta.%s", data, d)
		}
		if enc2 := wire.AppendMeta(nil, &again); !bytes.Equal(enc2, enc) {
			t.Errorf("AppendMeta(DecodeMeta(AppendMeta(m))) =\n%x, want\n%x", enc2, enc)
		}
	})
}

// checkAgainstPB compares what DecodeMeta made of data with what the generated decoder made of it.
func checkAgainstPB(t *testing.T, data []byte, m *wire.Meta, pb *metapb.RpcMeta) {
	t.Helper()
	want := metaFromPB(pb)
	got := cloneMeta(m)
	// user_fields is a map: the last entry of a key wins, and the order is lost.
	last := make(map[string]string)
	for _, uf := range m.UserFields {
		last[string(uf.Key)] = string(uf.Value)
	}
	got.UserFields = nil
	for _, uf := range want.UserFields {
		if v, ok := last[string(uf.Key)]; ok {
			got.UserFields = append(got.UserFields, wire.UserField{Key: uf.Key, Value: []byte(v)})
		}
	}
	if len(last) != len(want.UserFields) {
		t.Errorf("DecodeMeta(%x): %d distinct user field keys, want %d (proto.Unmarshal)", data, len(last), len(want.UserFields))
	}
	// content_type is a closed proto2 enum: the generated decoder keeps values it does not know as
	// unknown fields and reports the default.
	if got.ContentType < 0 || got.ContentType > 3 {
		got.ContentType = want.ContentType
	}
	for _, d := range metaDiff(&got, &want) {
		t.Errorf("DecodeMeta(%x) vs proto.Unmarshal: Meta.%s", data, d)
	}
}
