package actors_test

import (
	"context"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

func TestSmokeSyncCall(t *testing.T) {
	_, addr := startEcho(t, nil)
	sys := newSystem(t)
	ch, err := sys.NewChannel(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	var cntl actors.Controller
	cntl.SetRequestAttachment([]byte("att"))
	resp := &echopb.EchoResponse{}
	err = ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")}, resp, &cntl)
	if err != nil {
		t.Fatalf("Call() = %v", err)
	}
	if resp.GetMessage() != "hi" || string(cntl.ResponseAttachment()) != "att" {
		t.Fatalf("resp=%v att=%q", resp, cntl.ResponseAttachment())
	}
	t.Logf("latency %v remote %s local %s", cntl.Latency(), cntl.RemoteSide(), cntl.LocalSide())
}
