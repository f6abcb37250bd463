package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/examples/delivery/deliverypb"
	"github.com/troupe-rpc/troupe/wire"
)

// Full method names of the DeliveryService, as the partitioners' method tables name them.
const (
	methodGetBox   = deliverypb.DeliveryService_GetBox_FullMethodName
	methodGetBoxes = deliverypb.DeliveryService_GetBoxes_FullMethodName
)

// shardStopTimeout bounds the graceful shutdown of each server.
const shardStopTimeout = 5 * time.Second

// deliveryService answers for one shard: a box per address, each saying which shard served it.
type deliveryService struct {
	servedBy string // "shard N at host:port"
	passcode int32
}

// register adds GetBox and GetBoxes to srv.
func (d *deliveryService) register(srv *actors.Server) error {
	return deliverypb.RegisterDeliveryServiceServer(srv, d)
}

// GetBox answers GetBox with the box for the request's address.
func (d *deliveryService) GetBox(_ context.Context, req *deliverypb.GetBoxRequest) (*deliverypb.Box, error) {
	if err := d.check(req.GetPasscode()); err != nil {
		return nil, err
	}
	return d.box(req.GetAddrInfo()), nil
}

// GetBoxes answers GetBoxes with one box per address, in the request's order.
func (d *deliveryService) GetBoxes(_ context.Context, req *deliverypb.GetBoxesRequest) (*deliverypb.GetBoxesResponse, error) {
	if err := d.check(req.GetPasscode()); err != nil {
		return nil, err
	}
	resp := &deliverypb.GetBoxesResponse{Boxes: make([]*deliverypb.Box, 0, len(req.GetListAddrInfo()))}
	for _, a := range req.GetListAddrInfo() {
		resp.Boxes = append(resp.Boxes, d.box(a))
	}
	return resp, nil
}

// check refuses a wrong passcode with EREQUEST, which the server sends as the call's code.
func (d *deliveryService) check(passcode int32) error {
	if passcode != d.passcode {
		return &wire.Error{Code: wire.EREQUEST, Text: fmt.Sprintf("wrong passcode %d", passcode)}
	}
	return nil
}

func (d *deliveryService) box(a *deliverypb.AddrInfo) *deliverypb.Box {
	return &deliverypb.Box{AddrInfo: a, Item: proto.String("parcel for " + a.GetName()), ServedBy: proto.String(d.servedBy)}
}

// shard is one running DeliveryService server.
type shard struct {
	id     int
	addr   string
	srv    *actors.Server
	served chan error // what Serve returned
}

// startShards starts n servers on free loopback ports, server i being shard i, each accepting
// passcode.
func startShards(n int, passcode int32) ([]*shard, error) {
	shards := make([]*shard, 0, n)
	for i := range n {
		s, err := startShard(i, passcode)
		if err != nil {
			return nil, errors.Join(err, stopShards(shards))
		}
		shards = append(shards, s)
	}
	return shards, nil
}

// startShard listens first, so that the service knows the address it reports in served_by
// before it is registered, and then serves on a goroutine that stopShards waits for.
func startShard(id int, passcode int32) (*shard, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &shard{id: id, addr: l.Addr().String(), served: make(chan error, 1)}
	if s.srv, err = actors.NewServer(nil); err == nil {
		svc := &deliveryService{servedBy: fmt.Sprintf("shard %d at %s", id, s.addr), passcode: passcode}
		err = svc.register(s.srv)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	go func() {
		err := s.srv.Serve(l)
		l.Close() // Serve leaves l open when Shutdown came first
		s.served <- err
	}()
	return s, nil
}

// stopShards shuts the servers down gracefully and waits for their Serve goroutines.
func stopShards(shards []*shard) error {
	ctx, cancel := context.WithTimeout(context.Background(), shardStopTimeout)
	defer cancel()
	var errs []error
	for _, s := range shards {
		if err := s.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shard %d: Shutdown: %w", s.id, err))
		}
		if err := <-s.served; !errors.Is(err, actors.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("shard %d: Serve: %w", s.id, err))
		}
	}
	return errors.Join(errs...)
}

// shardAddrs returns the servers' addresses, shard i at index i.
func shardAddrs(shards []*shard) []string {
	addrs := make([]string, len(shards))
	for i, s := range shards {
		addrs[i] = s.addr
	}
	return addrs
}
