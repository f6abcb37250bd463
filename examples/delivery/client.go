package main

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/examples/delivery/deliverypb"
	"github.com/troupe-rpc/troupe/wire"
)

// client is a partitioning client at work: its name in the output, the partitioner it calls,
// the partitioner's counters, where an address's name goes ("partition_of=2"), and the boxes it
// got so far.
type client struct {
	name  string
	ch    actors.Channel
	stats func() map[string]int64
	where func(name string) string
	// method is the method being called, for where.
	method string
	calls  int // calls made so far
	boxes  []gotBox
}

// gotBox is a box and the call that brought it.
type gotBox struct {
	call int
	box  *deliverypb.Box
}

// stub is the generated DeliveryService client over the client's partitioner.
func (cl *client) stub() *deliverypb.DeliveryServiceClient {
	return deliverypb.NewDeliveryServiceClient(cl.ch)
}

// getEach calls GetBox for each name, one call after the other, and prints every box.
func (cl *client) getEach(ctx context.Context, c config) error {
	for i, name := range c.names {
		req := &deliverypb.GetBoxRequest{AddrInfo: addrInfo(i, name), Passcode: proto.Int32(int32(c.passcode))}
		cl.calls++
		box, err := cl.stub().GetBox(ctx, req, nil)
		if err != nil {
			return fmt.Errorf("GetBox of %s: %w", name, err)
		}
		if box.GetAddrInfo().GetName() != name {
			return fmt.Errorf("GetBox of %s answered for %q", name, box.GetAddrInfo().GetName())
		}
		cl.printBox(c, "GetBox", box)
	}
	return nil
}

// getAll calls GetBoxes once for every name, prints how many sub-calls it took and every box,
// and checks that each name got its box.
func (cl *client) getAll(ctx context.Context, c config) error {
	before := cl.stats()["fan_out"]
	cl.calls++
	resp, err := cl.stub().GetBoxes(ctx, boxesRequest(c.names, c.passcode), nil)
	if err != nil {
		return fmt.Errorf("GetBoxes: %w", err)
	}
	fmt.Fprintf(c.out, "%s GetBoxes of %d addresses: %d sub-calls\n", cl.name, len(c.names), cl.stats()["fan_out"]-before)
	got := map[string]bool{}
	for _, b := range resp.GetBoxes() {
		cl.printBox(c, "GetBoxes", b)
		got[b.GetAddrInfo().GetName()] = true
	}
	for _, name := range c.names {
		if !got[name] {
			return fmt.Errorf("GetBoxes: no box for %s", name)
		}
	}
	return nil
}

// wrongPasscode calls GetBoxes with a passcode the servers refuse and checks that the call
// fails with the servers' code, EREQUEST.
func (cl *client) wrongPasscode(ctx context.Context, c config) error {
	wrong := c.passcode + 1
	if wrong > 127 {
		wrong = -128
	}
	before := cl.stats()["sub_call_failures"]
	_, err := cl.stub().GetBoxes(ctx, boxesRequest(c.names, wrong), nil)
	if !errors.Is(err, wire.EREQUEST) {
		return fmt.Errorf("GetBoxes with a wrong passcode = %v, want an error with code EREQUEST", err)
	}
	fmt.Fprintf(c.out, "%s GetBoxes passcode=%d: %d sub-calls refused, the call failed with %v: %v\n",
		cl.name, wrong, cl.stats()["sub_call_failures"]-before, wire.ErrnoOf(err), err)
	return nil
}

// printBox prints one box with where its name goes and who served it, and keeps it.
func (cl *client) printBox(c config, method string, b *deliverypb.Box) {
	cl.boxes = append(cl.boxes, gotBox{call: cl.calls, box: b})
	name := b.GetAddrInfo().GetName()
	fmt.Fprintf(c.out, "%s %-8s name=%s %s served_by=%q item=%q\n",
		cl.name, method, name, cl.where(name), b.GetServedBy(), b.GetItem())
}

// addrInfo returns the i-th address, named name, with a made-up zip code.
func addrInfo(i int, name string) *deliverypb.AddrInfo {
	return &deliverypb.AddrInfo{Name: proto.String(name), ZipCode: proto.Int32(int32(94100 + i))}
}

// boxesRequest returns a GetBoxes request for names.
func boxesRequest(names []string, passcode int) *deliverypb.GetBoxesRequest {
	req := &deliverypb.GetBoxesRequest{Passcode: proto.Int32(int32(passcode))}
	for i, name := range names {
		req.ListAddrInfo = append(req.ListAddrInfo, addrInfo(i, name))
	}
	return req
}

// mergeBoxes is the documentation's getBoxesRepMerger: the boxes of every partition that
// answered, or the first failure when none did.
func mergeBoxes(successes []proto.Message, failures []error) (proto.Message, error) {
	if len(successes) == 0 {
		if len(failures) == 0 {
			return nil, errors.New("GetBoxes: no partition answered")
		}
		return nil, failures[0]
	}
	out := &deliverypb.GetBoxesResponse{}
	for _, s := range successes {
		r, ok := s.(*deliverypb.GetBoxesResponse)
		if !ok {
			return nil, fmt.Errorf("GetBoxes: a partition answered a %T", s)
		}
		out.Boxes = append(out.Boxes, r.GetBoxes()...)
	}
	return out, nil
}

// dial returns a plain channel to each address, in order.
func dial(sys *actors.System, addrs []string) ([]actors.Channel, error) {
	chans := make([]actors.Channel, 0, len(addrs))
	for _, addr := range addrs {
		ch, err := sys.NewChannel(addr, nil)
		if err != nil {
			closeAll(chans)
			return nil, err
		}
		chans = append(chans, ch)
	}
	return chans, nil
}

// closeAll closes channels.
func closeAll(chans []actors.Channel) {
	for _, ch := range chans {
		ch.Close()
	}
}
