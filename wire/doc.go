// Package wire is brpc's baidu_std protocol, byte for byte: the 12-byte frame header, the RpcMeta
// that follows it, payload compression, CRC32C checksums, brpc's error codes as Go errors, and the
// endpoint syntax brpc accepts.
//
// A frame is
//
//	"PRPC" | body_size uint32 BE | meta_size uint32 BE | RpcMeta | payload | attachment
//
// where body_size counts the meta, the payload and the attachment, and the attachment is the last
// RpcMeta.attachment_size bytes of the body. [AppendFrame] writes one; a [Reader] reads them from a
// stream with a bound on the body size, and rejects garbage with a [*FrameError] instead of
// panicking or allocating without limit.
//
// [Meta] is the RpcMeta as a plain struct encoded and decoded by hand (package
// [github.com/troupe-rpc/troupe/wire/metapb] holds the generated protobuf types of the same
// message, used to check the hand encoder and available to anyone who wants them). A decoded Meta
// aliases the frame body it came from: it is valid as long as that body is. Every frame of a call
// passes through both, so they take the common case in one pass: the encoder writes a frame's
// head and fills in its sizes and the one-byte lengths of the embedded messages afterwards, and
// the decoder reads one-byte tags, values and lengths itself, leaving only longer ones to
// protowire.
//
// [Errno] mirrors brpc's errno.proto and the Linux errno values brpc puts on the wire, in the
// manner of [syscall.Errno]; [*Error] wraps an Errno with the text, method, remote address and
// cause of one failure. Both work with [errors.Is] and [errors.As], and a timeout is also
// [context.DeadlineExceeded].
//
// Package wire imports only the standard library, protobuf and a snappy codec. Everything in it is
// safe for concurrent use except a [Reader], which belongs to the goroutine that reads from it.
package wire
