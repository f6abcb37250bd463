package console_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/troupe-rpc/troupe/actors/actorstest"
)

// chromium returns the path of a Chromium to drive: $TROUPE_CHROMIUM, else Debian's chromium.
// Without one the test fails, saying how to get it, unless TROUPE_SKIP_BROWSER is set.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TROUPE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("TROUPE_SKIP_BROWSER") != "" {
		t.Skip("no chromium, and TROUPE_SKIP_BROWSER is set")
	}
	t.Fatal("the console's browser test needs Chromium: `make tools-chromium` installs Debian's " +
		"chromium (or set TROUPE_CHROMIUM to a browser, or TROUPE_SKIP_BROWSER=1 to skip)")
	return ""
}

// browser drives one headless Chromium tab through the console's pages.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	dir  string // where screenshots go
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox cannot start
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now: a missing library shows here, not on the first page. (The first
	// action's context owns the browser: it must not be one cancelled early.)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium(t), err)
	}
	return &browser{t: t, ctx: ctx, base: base, dir: t.ArtifactDir()}
}

// run runs actions with a bound, failing the test on an error.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*actorstest.Timeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// get runs an action that returns a value, with a bound, failing the test on an error.
func get[T any](b *browser, what string, action chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*actorstest.Timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// eval evaluates a JavaScript expression on the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	return get(b, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// open loads page and waits for its body.
func (b *browser) open(page string) {
	b.t.Helper()
	b.run("open "+page, chromedp.Navigate(b.base+page), chromedp.WaitReady(chromedp.CSS("body")))
}

// until reloads page until the expression is true.
func (b *browser) until(page, what, expr string) {
	b.t.Helper()
	actorstest.Eventually(b.t, what, func() bool {
		b.open(page)
		return eval[bool](b, expr)
	})
}

// shot saves the page as name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	png := get(b, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
}

// text returns the text of the elements matching a CSS selector, one line each.
func (b *browser) text(selector string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(e => e.innerText).join("\n")`, selector))
}

func TestConsoleInABrowser(t *testing.T) {
	w := newWorld(t)
	b := newBrowser(t, w.url)

	// /status: the echo method runs at some calls/s, with its p99.
	b.until("status", "a server method with calls/s above zero",
		`Array.from(document.querySelectorAll("h2.server + table tr.method td.qps")).some(td => parseFloat(td.innerText) > 0)`)
	if p99 := b.text("h2.server + table tr.method td.p99"); !strings.ContainsAny(p99, "µms") {
		t.Errorf("/status shows p99 %q, want latencies", p99)
	}
	b.shot("status")

	// /inspect: the stuck call, what it waits on, and its socket.
	b.open("inspect")
	calls := b.text("li.call")
	for _, want := range []string{"waiting for response from " + w.slowAddr, "log_id=" + strconv.Itoa(stuckLogID), "left "} {
		if !strings.Contains(calls, want) {
			t.Errorf("/inspect's stuck call lacks %q:\n%s", want, calls)
		}
	}
	if socks := b.text("li.socket"); !strings.Contains(socks, w.slowAddr) || !strings.Contains(socks, "pending=1") {
		t.Errorf("/inspect lacks the socket the call waits on:\n%s", socks)
	}
	if conns := b.text("li.connection"); !strings.Contains(conns, "in_handlers=1") {
		t.Errorf("/inspect lacks the server's connection with the request in its handler:\n%s", conns)
	}
	b.shot("inspect")

	// /rpcz: the failing call with its code, then its timeline.
	b.open("rpcz?code=EREQUEST")
	if rows := b.text("tr.trace"); !strings.Contains(rows, "EREQUEST") || !strings.Contains(rows, strconv.Itoa(failLogID)) {
		t.Fatalf("/rpcz?code=EREQUEST lacks the failing call:\n%s", rows)
	}
	b.shot("rpcz")
	b.run("open the failing call", chromedp.Click(chromedp.CSS(`tr.trace.call a`)), chromedp.WaitVisible(chromedp.CSS(`table.timeline`)))
	bars := eval[int](b, `document.querySelectorAll("table.timeline .bar").length`)
	if bars < 2 {
		t.Errorf("the trace's timeline has %d bars, want the call's and its attempt's", bars)
	}
	b.shot("rpcz-trace")

	// /vars: a plot drawn, and the search box narrowing the list as one types.
	b.until("vars", "a plot with points on /vars",
		`Array.from(document.querySelectorAll("svg.plot polyline")).some(p => p.getAttribute("points").split(" ").length >= 2)`)
	before := eval[int](b, `document.querySelectorAll("tr.var").length`)
	b.run("search vars", chromedp.SendKeys(chromedp.ID("q"), "process.goroutines"))
	after := eval[int](b, `Array.from(document.querySelectorAll("tr.var")).filter(r => r.style.display !== "none").length`)
	if after != 1 || before < 10 {
		t.Errorf("/vars: %d vars, %d shown after searching process.goroutines, want many and then 1", before, after)
	}
	b.shot("vars")

	// /connections: the sockets and the servers' connections.
	b.open("connections")
	if socks := b.text("tr.socket"); !strings.Contains(socks, w.slowAddr) || !strings.Contains(socks, w.addr) {
		t.Errorf("/connections lacks the client's sockets:\n%s", socks)
	}
	if conns := b.text("tr.conn"); strings.Count(conns, "\n") < 1 {
		t.Errorf("/connections lacks the servers' connections:\n%s", conns)
	}
	b.shot("connections")

	b.open("")
	if title := get(b, "title", chromedp.Title()); !strings.Contains(title, "console test") {
		t.Errorf("title %q", title)
	}
}
