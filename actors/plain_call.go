package actors

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/mailbox"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/wire"
)

// plainCall is the engine of a plain channel's call: it encodes the request once, picks a server
// for each attempt, hands the frame to the server's socket actor, and retries or sends a backup
// request under brpc's rules. The call lives inline in it, so a call costs one allocation. Its
// fields belong to the call's actor.
type plainCall struct {
	call callrt.Call
	ch   *PlainChannel

	payload    []byte
	payloadBuf *frameBuf // payload's pooled buffer, returned when the call completes
	first      attempt   // storage for the first attempt, which most calls only have
	cur        *attempt  // the attempt waited for; nil before the first
	prev       *attempt  // the original attempt, still pending after a backup request was sent
	backup     *time.Timer
	backoff    *time.Timer
	retry      callrt.Retry
	local      *string          // the local address of the connection the last answer came on
	fields     []wire.UserField // the request user fields, encoded in every attempt's meta
	finished   chan struct{}    // a synchronous call's Spec.Finished, kept when the plainCall is reused

	state   atomic.Int32           // for Inspect
	crowded bool                   // the last attempt failed with EOVERCROWDED (in state's padding)
	server  atomic.Pointer[string] // the server of the current attempt, for Inspect
	retried atomic.Int32           // retry.Done, for Inspect
}

// attempt is one try of a call on a socket; it is the message that asks the socket actor to
// write the frame.
type attempt struct {
	c     *plainCall
	id    int64
	sock  *socket
	node  naming.ServerNode // the server picked, for a cluster channel
	frame *frameBuf         // handed over to the socket actor, which returns it to the pool
	sent  time.Time
	span  trace.Span // the attempt's span, nil when the call is not traced or once it ended
	// answered: the reader took the attempt out of its socket's pending map to deliver its
	// answer, so ending it need not look there.
	answered bool
}

// light returns the actor of the attempt's call.
func (at *attempt) light() *mailbox.Light { return at.c.call.Light() }

// Plain call states, as Inspect shows them.
const (
	plainStarting int32 = iota
	plainWaiting
	plainAwaitingServers
	plainBackingOff
)

var plainStateNames = [...]string{"starting", "waiting for response", "waiting for the server list", "backing off before a retry"}

// Messages of the plain engine that carry no data.
type (
	callBackup struct{}
	callRetry  struct{}
)

var (
	msgBackup = &callBackup{}
	msgRetry  = &callRetry{}
)

// attemptFailed tells a call that its attempt's connection failed.
type attemptFailed struct {
	id  int64
	err *wire.Error
}

// start makes a call of the channel; parent, when set, makes it a child of a combo call. pc,
// when not nil, is a zero plainCall to make the call in, but for its finished channel.
func (ch *PlainChannel) start(ctx context.Context, method string, req, resp proto.Message, cntl *callrt.Controller, done func(*Controller), parent *callrt.Call, index int, pc *plainCall) *Call {
	spec := callrt.Spec{Method: method, Request: req, Response: resp, Controller: cntl,
		Timeout: ch.opts.Timeout, Target: ch.target, Parent: parent, Index: index, OnEnd: ch.onEnd, Stats: ch.stats}
	if done != nil {
		spec.Done = done
	}
	if ch.sys == nil {
		return (*Call)(callrt.Refuse(&spec, uninitialized("PlainChannel", "System.NewChannel"), runDone))
	}
	if pc == nil {
		pc = new(plainCall)
	}
	pc.ch = ch
	spec.Engine, spec.Finished = pc, pc.finished
	ch.inflight.Add(1) // the call's OnEnd takes it off
	return (*Call)(ch.sys.rt.Start(ctx, &pc.call, &spec))
}

// callPool keeps the memory of finished synchronous calls for the next ones. A plainCall is most
// of what a call allocates (it holds the call's actor, its first attempt and its state), and
// without reuse the garbage collector runs about seven times as often under load.
var callPool = sync.Pool{New: func() any { return new(plainCall) }}

// call makes a synchronous call in a plainCall of callPool and gives the plainCall back when
// nothing but this goroutine can reach it any more.
func (ch *PlainChannel) call(ctx context.Context, method string, req, resp proto.Message, cntl *callrt.Controller) error {
	pc := callPool.Get().(*plainCall)
	if pc.finished == nil {
		pc.finished = make(chan struct{}, 1)
	}
	err := ch.start(ctx, method, req, resp, cntl, nil, nil, 0, pc).Wait()
	if pc.reusable() {
		*pc = plainCall{finished: pc.finished} // emptied by Wait
		callPool.Put(pc)
	}
	return err
}

// reusable reports whether a finished synchronous call's memory may be reused: besides what
// [callrt.Call.Reusable] checks, its one attempt was answered, so the reader that delivered the
// answer and the socket actor that wrote the request are done with it, and no timer of a backup
// request or a retry's backoff was ever set. Anything else (a retry, a backup request, a timeout,
// a cancel, a failed connection) leaves the call to the garbage collector.
func (pc *plainCall) reusable() bool {
	// The call's check first: it finds the actor stopped before anything reads the fields its
	// last turns wrote.
	return pc.call.Reusable() && pc.cur == &pc.first && pc.first.answered && pc.prev == nil &&
		pc.backup == nil && pc.backoff == nil && pc.retry.Done == 0
}

// startChild starts a call of the channel as a child of parent. See [callrt.StartChildFunc].
func (ch *PlainChannel) startChild(parent *callrt.Call, index int, method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Call {
	if ch.icpt != nil {
		return ch.intercept(context.Background(), method, req, resp, cntl, nil, parent, index, false)
	}
	return (*callrt.Call)(ch.start(context.Background(), method, req, resp, cntl, nil, parent, index, nil))
}

// errChannelClosed is the error of a call made on a closed channel: ELOGOFF, caused by
// [ErrClosed], as a call refused by Shutdown.
func errChannelClosed(method, target string) *wire.Error {
	return &wire.Error{Code: wire.ELOGOFF, Text: "channel is closed", Method: method, Addr: target, Err: ErrClosed}
}

// uninitialized is the error of a call on a channel's zero value.
func uninitialized(typ, maker string) *wire.Error {
	return wire.Errorf(wire.EINVAL, typ+" is not initialized: make it with "+maker)
}

// runDone runs an asynchronous call's callback, which the runtime holds as a value.
func runDone(done any, c *callrt.Controller) { done.(func(*Controller))((*Controller)(c)) }

// Prepare encodes the request once for every attempt and takes the channel's retry settings.
func (pc *plainCall) Prepare(c *callrt.Call) error {
	if pc.ch.closed.Load() {
		return errChannelClosed(c.Method(), pc.ch.target)
	}
	cntl := c.Controller()
	b, pb, err := marshalPooled(c.Request())
	if err != nil {
		putPayload(pb)
		return c.Errorf(wire.EREQUEST, err, "Fail to serialize request")
	}
	if t := cntl.CompressType(); t != wire.CompressNone {
		b, err = wire.Compress(nil, b, t)
		putPayload(pb)
		if err != nil {
			return c.Errorf(wire.EREQUEST, err, "Fail to compress request")
		}
		pb = nil
	}
	if n, lim := len(b)+len(cntl.RequestAttachment()), pc.ch.opts.MaxBodySize; lim >= 0 && n > lim {
		putPayload(pb)
		return pc.requestTooLarge(n)
	}
	pc.payload, pc.payloadBuf = b, pb
	if list := cntl.RequestUserFieldList(); len(list) > 0 {
		pc.fields = make([]wire.UserField, len(list))
		for i, f := range list {
			pc.fields[i] = wire.UserField{Key: bytesOf(f.Key), Value: bytesOf(f.Value)}
		}
	}
	pc.retry.Init(c, pc.ch.opts.MaxRetry, pc.ch.policy)
	return nil
}

// Start arms the backup request and sends the first attempt.
func (pc *plainCall) Start(c *callrt.Call) {
	if d := pc.retry.BackupDelay(c, pc.ch.opts.BackupRequest); d > 0 {
		l := pc.call.Light()
		pc.backup = time.AfterFunc(d, func() { l.Send(msgBackup) })
	}
	pc.send()
}

// Receive handles the plain engine's messages.
func (pc *plainCall) Receive(_ *callrt.Call, msg any) {
	switch m := msg.(type) {
	case *inbound:
		pc.onResponse(m)
	case *attemptFailed:
		pc.onAttemptFailed(m)
	case *callBackup:
		pc.onBackup()
	case *callRetry, *listReady:
		pc.send()
	}
}

// End ends the call at once; a timeout counts against the server that did not answer.
func (pc *plainCall) End(c *callrt.Call, err *wire.Error) {
	pc.endAttemptSpans(err)
	if err.Code == wire.ERPCTIMEDOUT && pc.cur != nil && pc.state.Load() == plainWaiting {
		pc.feedback(pc.cur, true, wire.ERPCTIMEDOUT)
	}
	c.Finish(err)
}

// Release stops the engine's timers, forgets its pending attempts, returns the request's buffer
// and records the server, the connection and the retries in the Controller.
func (pc *plainCall) Release(c *callrt.Call) {
	pc.endAttemptSpans(nil)
	for _, t := range [...]*time.Timer{pc.backup, pc.backoff} {
		if t != nil {
			t.Stop()
		}
	}
	cntl := c.Controller()
	if at := pc.prev; at != nil && !at.answered {
		at.sock.pending.remove(at.id)
	}
	if at := pc.cur; at != nil {
		if !at.answered {
			at.sock.pending.remove(at.id)
		}
		cntl.SetRemoteSide(at.sock.addr)
		l := pc.local // the connection the last answer came on
		if l == nil {
			l = at.sock.local.Load() // no answer: the socket's latest connection
		}
		if l != nil {
			cntl.SetLocalSide(*l)
		}
	}
	cntl.SetRetried(pc.retry.Done, cntl.HasBackupRequest())
	if pb := pc.payloadBuf; pb != nil {
		pc.payload, pc.payloadBuf = nil, nil
		putPayload(pb)
	}
}

// Retries returns how many attempts the call made after its first, backup requests included.
// It is called from any goroutine.
func (pc *plainCall) Retries() int { return int(pc.retried.Load()) }

// Status says what the call waits for, for Inspect.
func (pc *plainCall) Status() string {
	st := pc.state.Load()
	if st == plainWaiting {
		if addr := pc.server.Load(); addr != nil {
			return fmt.Sprintf("%s from %s", plainStateNames[st], *addr)
		}
	}
	return plainStateNames[st]
}

// decode parses a successful response into the caller's message and keeps its attachment.
func (pc *plainCall) decode(f *wire.Frame) error {
	c := &pc.call
	payload := f.Payload
	if t := f.Meta.CompressType; t != wire.CompressNone {
		var err error
		if payload, err = wire.Decompress(nil, payload, t, bodyLimit(pc.ch.opts.MaxBodySize)); err != nil {
			return c.Errorf(wire.ERESPONSE, err, "Fail to decompress response within max_body_size=%d", pc.ch.opts.MaxBodySize)
		}
	}
	if err := proto.Unmarshal(payload, c.Response()); err != nil {
		return c.Errorf(wire.ERESPONSE, err, "Fail to parse response")
	}
	switch n := len(f.Attachment); {
	case n > maxPooledBuf:
		// The caller takes the body the attachment is in, rather than a copy of it: the
		// message parsed from the payload shares none of it.
		c.Controller().SetResponseAttachment(f.Attachment[:n:n])
		f.Body, f.Payload, f.Attachment = nil, nil, nil
	case n > 0:
		c.Controller().SetResponseAttachment(append([]byte(nil), f.Attachment...))
	}
	return nil
}

// marshalPooled marshals m into a payloadPool buffer, one of the large buffers' pool when the
// message is large; it returns the bytes and the buffer to give back once they are sent.
func marshalPooled(m proto.Message) ([]byte, *frameBuf, error) {
	n := proto.Size(m) // cached in m for MarshalAppend, which would compute it anyway
	pb := getPayloadFor(n)
	b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(pb.b[:0], m)
	if cap(b) > cap(pb.b) { // the message changed since Size: the buffer grew
		putLarge(pb.b)
	}
	pb.b = b[:0]
	return b, pb, err
}

func methodName(full string) string {
	for i := len(full) - 1; i >= 0; i-- {
		if full[i] == '.' {
			return full[i+1:]
		}
	}
	return full
}

// bytesOf views s as bytes without copying; the bytes are only read.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
