// Command client calls example.EchoService.Echo once every -interval_ms, like brpc's echo_c++
// client, and prints each reply:
//
//	Received response from 127.0.0.1:8002 to 127.0.0.1:53122: hello world (attached=foo) latency=142us
//
// It works against troupe's examples/echo/server and against brpc's own example echo server.
// With -load_balancer, -server is a naming URL, etcd:// included: the client plugs in the etcd
// scheme of package naming/etcd, which a program that does not use etcd leaves out. -etcd_tls_ca,
// -etcd_tls_cert, -etcd_tls_key and -etcd_user reach an etcd that serves TLS or requires a
// password.
// It stops after -count calls (0: until SIGINT/SIGTERM) and exits non-zero if every call failed.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/examples/echo/echopbtroupe"
	"github.com/troupe-rpc/troupe/examples/internal/tlsfiles"
	"github.com/troupe-rpc/troupe/naming"
	"github.com/troupe-rpc/troupe/naming/etcd"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

type config struct {
	server         string
	timeout        time.Duration
	maxRetry       int
	loadBalancer   string
	connectionType string
	backup         time.Duration
	attachment     string
	interval       time.Duration
	count          int
	message        string
	tls            *tls.Config
	etcd           *etcd.Options // how the etcd:// scheme reaches etcd
}

func main() {
	var c config
	var timeoutMs, intervalMs int
	flag.StringVar(&c.server, "server", "127.0.0.1:8002", "server address, or a naming URL (list://, file://, http://, etcd://) with -load_balancer")
	flag.IntVar(&timeoutMs, "timeout_ms", 100, "call timeout in milliseconds (-1: none)")
	flag.IntVar(&c.maxRetry, "max_retry", 3, "retries per call")
	flag.StringVar(&c.loadBalancer, "load_balancer", "", "load balancer (rr, random, wrr, la, c_murmurhash, c_md5); -server is then a naming URL")
	flag.StringVar(&c.connectionType, "connection_type", "", "single, pooled or short")
	backupMs := flag.Int("backup_ms", -1, "send a backup request after this many milliseconds (-1: never)")
	flag.StringVar(&c.attachment, "attachment", "", "attachment carried by each request")
	flag.IntVar(&intervalMs, "interval_ms", 1000, "milliseconds between calls")
	flag.IntVar(&c.count, "count", 0, "calls to make (0: until interrupted)")
	flag.StringVar(&c.message, "message", "hello world", "message to echo")
	tlsCA := flag.String("tls_ca", "", "PEM CA verifying the server: call over TLS")
	tlsCert := flag.String("tls_cert", "", "PEM client certificate for mutual TLS (with -tls_key)")
	tlsKey := flag.String("tls_key", "", "PEM private key of -tls_cert")
	tlsServerName := flag.String("tls_server_name", "", "name the server's certificate must carry (default: the server's host)")
	etcdCA := flag.String("etcd_tls_ca", "", "PEM CA verifying etcd: reach etcd:// over TLS")
	etcdCert := flag.String("etcd_tls_cert", "", "PEM client certificate for etcd (with -etcd_tls_key)")
	etcdKey := flag.String("etcd_tls_key", "", "PEM private key of -etcd_tls_cert")
	etcdUser := flag.String("etcd_user", "", "name[:password] of an etcd user, for an etcd with authentication enabled")
	flag.Parse()
	var err error
	if c.tls, err = tlsfiles.Client(*tlsCA, *tlsCert, *tlsKey, *tlsServerName); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	if c.etcd, err = etcdOptions(*etcdCA, *etcdCert, *etcdKey, *etcdUser); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	if *backupMs >= 0 {
		c.backup = time.Duration(*backupMs) * time.Millisecond
	}
	c.timeout = time.Duration(timeoutMs) * time.Millisecond
	c.interval = time.Duration(intervalMs) * time.Millisecond
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

// etcdOptions returns how the etcd:// scheme reaches etcd: over TLS with the CA in caFile and,
// with certFile and keyFile, that client certificate; as the user of user ("name[:password]",
// as etcdctl's --user). All empty: plain TCP, no user.
func etcdOptions(caFile, certFile, keyFile, user string) (*etcd.Options, error) {
	tc, err := tlsfiles.Client(caFile, certFile, keyFile, "")
	if err != nil {
		return nil, fmt.Errorf("-etcd_tls_*: %w", err)
	}
	o := &etcd.Options{TLS: tc}
	if user != "" {
		name, password, _ := strings.Cut(user, ":")
		if name == "" {
			return nil, fmt.Errorf("-etcd_user %q has no name (want name[:password])", user)
		}
		o.Username, o.Password = name, password
	}
	return o, nil
}

func run(c config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sys, err := actors.NewSystem(nil)
	if err != nil {
		return err
	}
	defer sys.Shutdown()
	opts := &actors.ChannelOptions{Timeout: c.timeout, MaxRetry: c.maxRetry, LoadBalancer: c.loadBalancer,
		ConnectionType: c.connectionType, BackupRequest: c.backup, TLS: c.tls,
		NamingSchemes: map[string]naming.Builder{"etcd": etcd.Scheme(c.etcd)}}
	if c.maxRetry == 0 {
		opts.MaxRetry = actors.NoRetry
	}
	ch, err := sys.NewChannel(c.server, opts)
	if err != nil {
		return err
	}
	ok := 0
	for i := 0; c.count == 0 || i < c.count; i++ {
		if i > 0 && !sleep(ctx, c.interval) {
			break
		}
		if callOnce(ch, c) {
			ok++
		}
	}
	if ok == 0 {
		return errors.New("every call failed")
	}
	return nil
}

func callOnce(ch actors.Channel, c config) bool {
	var cntl actors.Controller
	if c.attachment != "" {
		cntl.SetRequestAttachment([]byte(c.attachment))
	}
	client := echopbtroupe.NewEchoServiceClient(ch)
	resp, err := client.Echo(context.Background(), &echopb.EchoRequest{Message: proto.String(c.message)}, &cntl)
	if err != nil {
		fmt.Printf("call failed: %v (code=%v retried=%d)\n", err, cntl.ErrorCode(), cntl.RetriedCount())
		return false
	}
	att := ""
	if a := cntl.ResponseAttachment(); len(a) > 0 {
		att = fmt.Sprintf(" (attached=%s)", a)
	}
	fmt.Printf("Received response from %s to %s: %s%s latency=%dus\n",
		cntl.RemoteSide(), cntl.LocalSide(), resp.GetMessage(), att, cntl.Latency().Microseconds())
	return true
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
