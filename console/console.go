package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/troupe-rpc/troupe/actors"
	"github.com/troupe-rpc/troupe/rpcz"
)

// Options say what a [Console] shows.
type Options struct {
	// System is the process's client side: its channels, calls and sockets. nil shows none.
	System *actors.System
	// Servers are the process's servers. Servers added later go through [Console.AddServer].
	Servers []*actors.Server
	// Rpcz are recorders of recent calls to show at /rpcz beside those of System and Servers
	// (their SystemOptions.Rpcz and ServerOptions.Rpcz, found by themselves).
	Rpcz []*rpcz.Recorder
	// Title names the process in every page's heading; "" shows "troupe".
	Title string
	// SampleEvery is how often /vars samples every metric; 0 means every second, the period
	// of its plots' points.
	SampleEvery time.Duration
}

// Console is the process's debugging console, one [http.Handler] for its System and Servers
// (see the package documentation for its pages). Make it with [New] and stop it with
// [Console.Close]; it is safe for concurrent use.
type Console struct {
	title string
	sys   *actors.System
	extra []*rpcz.Recorder
	start time.Time

	mu      sync.Mutex
	servers []*actors.Server
	vars    *history

	mux  *http.ServeMux
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New returns the console of what opts names, and starts the goroutine that samples its
// metrics for /vars: stop it with [Console.Close]. It fails when opts names nothing to show or
// holds a nil Server.
func New(opts Options) (*Console, error) {
	if opts.System == nil && len(opts.Servers) == 0 {
		return nil, errors.New("troupe/console: Options name no System and no Server: nothing to show")
	}
	for i, s := range opts.Servers {
		if s == nil {
			return nil, fmt.Errorf("troupe/console: Options.Servers[%d] is nil", i)
		}
	}
	if opts.SampleEvery < 0 {
		return nil, fmt.Errorf("troupe/console: Options.SampleEvery = %v, want >= 0", opts.SampleEvery)
	}
	every := opts.SampleEvery
	if every == 0 {
		every = time.Second
	}
	title := opts.Title
	if title == "" {
		title = "troupe"
	}
	c := &Console{title: title, sys: opts.System, servers: slices.Clone(opts.Servers),
		extra: slices.Clone(opts.Rpcz), start: time.Now(), vars: newHistory(),
		stop: make(chan struct{}), done: make(chan struct{})}
	c.routes()
	c.sample(time.Now())
	go c.sampler(every)
	return c, nil
}

// AddServer shows s too, from now on.
func (c *Console) AddServer(s *actors.Server) error {
	if s == nil {
		return errors.New("troupe/console: AddServer(nil)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.Contains(c.servers, s) {
		c.servers = append(c.servers, s)
	}
	return nil
}

// Close stops the sampling goroutine. The pages still answer afterwards, with /vars' plots
// frozen. Close is idempotent.
func (c *Console) Close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

func (c *Console) sampler(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.sample(now)
		}
	}
}

func (c *Console) serverList() []*actors.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.servers)
}

// recorders returns every recorder the console shows, each once.
func (c *Console) recorders() []*rpcz.Recorder {
	var out []*rpcz.Recorder
	add := func(r *rpcz.Recorder) {
		if r != nil && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	add(c.sys.Rpcz())
	for _, s := range c.serverList() {
		add(s.Rpcz())
	}
	for _, r := range c.extra {
		add(r)
	}
	return out
}

// ServeHTTP serves the console's pages; mount it under a prefix with http.StripPrefix, e.g.
//
//	mux.Handle("/console/", http.StripPrefix("/console", con))
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mux.ServeHTTP(w, r)
}

// page is a handler of one page: it returns what the page shows, which is written as JSON with
// ?format=json and else through the page's template.
type page struct {
	name  string // the path, "status"
	title string
	data  func(r *http.Request) (any, error)
}

func (c *Console) routes() {
	c.mux = http.NewServeMux()
	pages := []page{
		{"status", "Status", c.statusData},
		{"connections", "Connections", c.connectionsData},
		{"vars", "Vars", c.varsData},
		{"rpcz", "Rpcz", c.rpczData},
		{"inspect", "Inspect", c.inspectData},
	}
	for _, p := range pages {
		c.mux.HandleFunc("/"+p.name, func(w http.ResponseWriter, r *http.Request) { c.serve(w, r, p) })
	}
	c.mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		c.serve(w, r, page{"index", "Overview", c.indexData})
	})
}

func (c *Console) serve(w http.ResponseWriter, r *http.Request, p page) {
	data, err := p.data(r)
	if err != nil {
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.URL.Query().Get("format") == "json" {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(data)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	q := r.URL.Query()
	q.Set("format", "json")
	view := layout{Title: c.title, Page: p.name, PageTitle: p.title, Data: data, Now: time.Now(),
		JSON: template.URL("?" + q.Encode())} // encoded: nothing of the query escapes the URL
	if err := templates.ExecuteTemplate(w, p.name, view); err != nil {
		// The page was cut off; say so where a person looks.
		_, _ = fmt.Fprintf(w, "<p class=err>page failed: %s</p>", strings.ReplaceAll(err.Error(), "<", "&lt;"))
	}
}

// layout is what every HTML page gets: its own data and the navigation.
type layout struct {
	Title     string
	Page      string
	PageTitle string
	Data      any
	Now       time.Time
	JSON      template.URL // this page's JSON form
}
