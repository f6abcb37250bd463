package main

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scrape returns the samples of the /metrics page: series (name and labels) to value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s = %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s = %s: %s", url, resp.Status, b)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// find returns the value of the series whose name is name and whose labels include every one
// of labels (`key="value"`), and whether there is one.
func find(samples map[string]float64, name string, labels ...string) (float64, bool) {
	for series, v := range samples {
		if series != name && !strings.HasPrefix(series, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(series, l)
		}
		if ok {
			return v, true
		}
	}
	return 0, false
}

// The /metrics page, scraped over HTTP after some calls, carries the client's and the server's
// series with OpenTelemetry's RPC attributes as labels.
func TestPrometheusScrape(t *testing.T) {
	a, err := start("127.0.0.1:0", 2)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.close(); err != nil {
			t.Errorf("close() = %v", err)
		}
	}()
	url := "http://" + a.metricsAddr + "/metrics"
	method := []string{`rpc_method="Echo"`, `rpc_service="example.EchoService"`, `rpc_system="brpc"`}
	var samples map[string]float64
	deadline := time.Now().Add(30 * time.Second)
	for {
		samples = scrape(t, url)
		if v, _ := find(samples, "troupe_rpc_client_errors_total", append(method, `rpc_brpc_error_code="1003"`)...); v > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed call counted after 30 s; page has %d series", len(samples))
		}
		time.Sleep(50 * time.Millisecond) // polling an HTTP page: there is no event to wait on
	}
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"rpc_client_duration_milliseconds_count", append(method, `rpc_brpc_error_code="0"`)},
		{"rpc_client_duration_milliseconds_bucket", append(method, `le="+Inf"`)},
		{"rpc_server_duration_milliseconds_count", append(method, `rpc_brpc_error_code="1003"`)},
		{"troupe_rpc_client_calls_total", method},
		{"troupe_rpc_server_calls_total", method},
		{"troupe_rpc_server_errors_total", append(method, `rpc_brpc_error_code="1003"`)},
		{"troupe_socket_frames_out_total", []string{`server_address="127.0.0.1"`}},
		{"troupe_socket_bytes_in_bytes_total", []string{`server_address="127.0.0.1"`}},
		{"troupe_server_connections_open", nil},
	} {
		if v, ok := find(samples, c.name, c.labels...); !ok || v <= 0 {
			t.Errorf("%s%v = %v (found %v), want > 0", c.name, c.labels, v, ok)
		}
	}
	if t.Failed() {
		for s := range samples {
			if strings.HasPrefix(s, "troupe") || strings.HasPrefix(s, "rpc") {
				t.Log(s)
			}
		}
	}
}
