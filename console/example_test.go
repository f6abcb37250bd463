package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/actors/echoservice"
	"github.com/troupe-rpc/troupe/console"
	"github.com/troupe-rpc/troupe/rpcz"
	"github.com/troupe-rpc/troupe/wire/echopb"
)

// A process's System and Server share an rpcz recorder, and the console serves both.
func Example() {
	rec := rpcz.New(nil)
	srv, err := actors.NewServer(&actors.ServerOptions{Rpcz: rec})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	if err := (&echoservice.Service{}).Register(srv); err != nil {
		log.Fatal(err)
	}
	addr, err := srv.Listen("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	sys, err := actors.NewSystem(&actors.SystemOptions{Rpcz: rec})
	if err != nil {
		log.Fatal(err)
	}
	defer sys.Shutdown()
	ch, err := sys.NewChannel(addr.String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	var cntl actors.Controller
	cntl.SetLogID(7)
	msg := "hello"
	if err := ch.Call(context.Background(), echoservice.Method, &echopb.EchoRequest{Message: &msg}, &echopb.EchoResponse{}, &cntl); err != nil {
		log.Fatal(err)
	}

	con, err := console.New(console.Options{System: sys, Servers: []*actors.Server{srv}})
	if err != nil {
		log.Fatal(err)
	}
	defer con.Close()
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", con)) // as a program mounts it
	web := httptest.NewServer(mux)
	defer web.Close()

	// Every page has a JSON form: here /rpcz, the calls with log id 7.
	resp, err := http.Get(web.URL + "/console/rpcz?log_id=7&format=json")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var page console.RpczView
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		log.Fatal(err)
	}
	for _, t := range page.Traces {
		fmt.Println(t.Kind, t.Method, "log id", t.LogID)
	}
	// Output:
	// request example.EchoService.Echo log id 7
	// call example.EchoService.Echo log id 7
}
