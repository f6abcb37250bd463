package actors_test

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A channel whose calls send a backup request once they waited longer than 99% of its recent
// calls, with at most 5% extra requests; until 10 calls succeeded it backs up after 50 ms.
func ExamplePercentileBackup() {
	srv, _ := actors.NewServer(nil)
	_ = (&echoservice.Service{}).Register(srv)
	addr, _ := srv.Listen("127.0.0.1:0")
	defer srv.Shutdown(context.Background())

	sys, _ := actors.NewSystem(nil)
	defer sys.Shutdown()
	policy, err := actors.PercentileBackup(actors.PercentileBackupOptions{
		Percentile: 0.99, MaxExtraLoad: 0.05, MinSamples: 10, Fallback: 50 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	ch, _ := sys.NewChannel(addr.String(), &actors.ChannelOptions{BackupPolicy: policy})
	for range 100 {
		_ = ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: proto.String("hi")}, &echopb.EchoResponse{}, nil)
	}
	// The calls succeeded: the delay is now their 99th percentile rather than the fallback.
	fmt.Println(policy.Delay(nil) != 50*time.Millisecond)
	// Output: true
}
