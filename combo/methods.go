package combo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/internal/callrt"
	"github.com/troupe-rpc/troupe/wire"
)

// MethodConfig is how a [MethodChannel] serves one method.
type MethodConfig struct {
	// Channel carries the method's calls: typically a partitioner holding this method's
	// strategy (a [HashingPartitioner] that fans it out, a [CustomPartitioner] that routes it to
	// one partition), or any other channel. Required.
	Channel actors.Channel
	// Timeout bounds the method's calls whose context has no deadline and whose Controller no
	// timeout, in place of the channel's own; 0 leaves the channel's, actors.NoTimeout (any
	// negative value) means none.
	Timeout time.Duration
	// MaxRetry is the method's retry limit for calls whose Controller sets none, in place of
	// the channel's own; 0 leaves the channel's, actors.NoRetry (any negative value) means none.
	MaxRetry int
}

// MethodBuilder builds a [MethodChannel], one method at a time, as Finagle's MethodBuilder gives
// each endpoint of one client its own partitioning strategy, timeout and retries. Errors are kept
// until Build.
//
//	ch, err := combo.NewMethodBuilder(sys).
//		Method("delivery.DeliveryService.GetBoxes", combo.MethodConfig{Channel: fanOut, Timeout: time.Second}).
//		Method("delivery.DeliveryService.GetBox", combo.MethodConfig{Channel: onePartition}).
//		Build()
type MethodBuilder struct {
	rt      *callrt.Runtime
	methods map[string]MethodConfig
	def     *MethodConfig
	err     error
}

// NewMethodBuilder starts a builder of calls made in sys.
func NewMethodBuilder(sys *actors.System) *MethodBuilder {
	b := &MethodBuilder{methods: map[string]MethodConfig{}}
	b.rt, b.err = runtimeOf(sys, "NewMethodBuilder")
	return b
}

// Method serves the method with full name (as given to Call, "package.Service.Method") as cfg
// says. Naming a method twice is an error.
func (b *MethodBuilder) Method(name string, cfg MethodConfig) *MethodBuilder {
	switch {
	case b.err != nil:
	case b.rt == nil:
		b.err = errNotInitialized("MethodBuilder")
	case name == "":
		b.err = errors.New("combo: MethodBuilder.Method: empty method name")
	case isNil(cfg.Channel):
		b.err = fmt.Errorf("combo: MethodBuilder.Method(%q): nil Channel", name)
	default:
		if _, dup := b.methods[name]; dup {
			b.err = fmt.Errorf("combo: MethodBuilder.Method(%q): method configured twice", name)
			break
		}
		b.methods[name] = cfg
	}
	return b
}

// Default serves every method not named with Method as cfg says. Without it, such calls fail
// with ENOMETHOD and a [*UnknownMethodError].
func (b *MethodBuilder) Default(cfg MethodConfig) *MethodBuilder {
	switch {
	case b.err != nil:
	case b.rt == nil:
		b.err = errNotInitialized("MethodBuilder")
	case isNil(cfg.Channel):
		b.err = errors.New("combo: MethodBuilder.Default: nil Channel")
	case b.def != nil:
		b.err = errors.New("combo: MethodBuilder.Default: set twice")
	default:
		b.def = &cfg
	}
	return b
}

// Build returns the channel, or the first error of the builder's calls.
func (b *MethodBuilder) Build() (*MethodChannel, error) {
	if b.err == nil && b.rt == nil {
		b.err = errNotInitialized("MethodBuilder")
	}
	if b.err != nil {
		return nil, b.err
	}
	if len(b.methods) == 0 && b.def == nil {
		return nil, errors.New("combo: MethodBuilder.Build: no method configured")
	}
	m := &MethodChannel{rt: b.rt, methods: make(map[string]*MethodConfig, len(b.methods)), def: b.def}
	for name, cfg := range b.methods {
		m.methods[name] = &cfg
	}
	m.nest = callrt.MakeNest(m.startChild)
	return m, nil
}

// ErrUnknownMethod is what an [*UnknownMethodError] matches with errors.Is.
var ErrUnknownMethod = errors.New("combo: unknown method")

// UnknownMethodError is the cause of a call to a [MethodChannel] for a method it was not built
// with and that has no default. The call fails with wire.ENOMETHOD.
type UnknownMethodError struct {
	Method string
}

// Error names the method.
func (e *UnknownMethodError) Error() string { return "combo: no configuration for method " + e.Method }

// Is reports whether target is [ErrUnknownMethod].
func (e *UnknownMethodError) Is(target error) bool { return target == ErrUnknownMethod }

// MethodChannel sends each method's calls to the channel configured for it, with that method's
// timeout and retries: one client whose endpoints each have their own strategy, as Finagle's
// MethodBuilder makes. The method's Timeout and MaxRetry are written into the call's Controller
// (one is made when the call has none) unless it sets its own, so a call costs nothing over
// calling the method's channel directly. It satisfies [actors.Channel]. It does not own the
// channels: Close leaves them open. Make it with a [MethodBuilder]: a zero MethodChannel fails
// every call with EINVAL.
type MethodChannel struct {
	nest

	rt      *callrt.Runtime
	methods map[string]*MethodConfig
	def     *MethodConfig
}

var _ actors.Channel = (*MethodChannel)(nil)

func (m *MethodChannel) config(method string) *MethodConfig {
	if cfg, ok := m.methods[method]; ok {
		return cfg
	}
	return m.def
}

// apply returns the call's Controller with the method's settings where it has none.
func (cfg *MethodConfig) apply(cntl *callrt.Controller) *callrt.Controller {
	if cfg.Timeout == 0 && cfg.MaxRetry == 0 {
		return cntl
	}
	if cntl == nil {
		cntl = new(callrt.Controller)
	}
	if _, ok := cntl.Timeout(); !ok {
		cntl.SetTimeout(cfg.Timeout)
	}
	if _, ok := cntl.MaxRetry(); !ok {
		cntl.SetMaxRetry(cfg.MaxRetry)
	}
	return cntl
}

// Call makes a call with its method's configuration and waits for it. See [actors.Channel].
func (m *MethodChannel) Call(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller) error {
	return m.Go(ctx, method, req, resp, cntl, nil).Wait()
}

// Go starts a call with its method's configuration. See [actors.Channel].
func (m *MethodChannel) Go(ctx context.Context, method string, req, resp proto.Message, cntl *actors.Controller, done func(*actors.Controller)) *actors.Call {
	cfg := m.config(method)
	if cfg == nil {
		return goCall(m.rt, "MethodChannel", "a MethodBuilder", unknownMethodSpec, nil, ctx, method, req, resp, cntl, done)
	}
	return cfg.Channel.Go(ctx, method, req, resp, publicCntl(cfg.apply(cntlOf(cntl))), done)
}

// startChild starts a call with its method's configuration as a child of parent.
func (m *MethodChannel) startChild(parent *callrt.Call, index int, method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Call {
	cfg := m.config(method)
	if cfg == nil {
		s := unknownMethodSpec(method, req, resp, cntl)
		s.Parent, s.Index = parent, index
		return m.rt.Start(context.Background(), nil, s)
	}
	return childStarter(cfg.Channel)(parent, index, method, req, resp, cfg.apply(cntl))
}

// Close does nothing: the channels belong to their owner. It satisfies [actors.Channel].
func (m *MethodChannel) Close() error { return nil }

// unknownMethodSpec describes a call to a method the channel has no configuration for.
func unknownMethodSpec(method string, req, resp proto.Message, cntl *callrt.Controller) *callrt.Spec {
	return &callrt.Spec{Method: method, Request: req, Response: resp, Controller: cntl,
		Engine: unknownMethod{}, Target: "method channel"}
}

// unknownMethod is the engine of a call to a method the channel has no configuration for: it
// fails with ENOMETHOD.
type unknownMethod struct{}

func (unknownMethod) Prepare(c *callrt.Call) error {
	return c.Errorf(wire.ENOMETHOD, &UnknownMethodError{Method: c.Method()}, "no configuration for method %s", c.Method())
}

func (unknownMethod) Start(*callrt.Call)                  {}
func (unknownMethod) Receive(*callrt.Call, any)           {}
func (unknownMethod) End(c *callrt.Call, err *wire.Error) { c.Finish(err) }
func (unknownMethod) Release(*callrt.Call)                {}
