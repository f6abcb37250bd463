// Package consolehttp serves troupe's console (package console) for the examples' -console flag.
package consolehttp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/troupe-rpc/troupe/console"
)

// Serve makes the console of opts and serves it over HTTP on addr ("127.0.0.1:0" picks a free
// port) under /console/. It returns the console's URL and a func that stops the HTTP server and
// the console.
func Serve(addr string, opts console.Options) (url string, stop func(), err error) {
	con, err := console.New(opts)
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		con.Close()
		return "", nil, fmt.Errorf("-console %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", http.StripPrefix("/console", con))
	mux.Handle("/{$}", http.RedirectHandler("/console/", http.StatusFound))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("console:", err)
		}
	}()
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
		con.Close()
	}
	return "http://" + l.Addr().String() + "/console/", stop, nil
}
