package naming_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/troupe-rpc/troupe/naming"
)

// fastFile makes file:// poll every 10ms and log to log.
func fastFile(log *naming.Options) *naming.Options {
	log.FileInterval = 10 * time.Millisecond
	return log
}

// writeFile writes text to dir/name and returns the path.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileInitialList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.txt")
	writeFile(t, path, "# This line is ignored\n10.24.234.17:80 tag1  # a comment\n"+
		"10.24.234.17:80 tag2  # an instance different from the instance on last line\n10.24.234.18:80\n\n10.24.234.19:80\n")
	w := watch(t, mustNew(t, "file://"+path, nil))
	want := nodes("10.24.234.17:80 tag1", "10.24.234.17:80 tag2", "10.24.234.18:80", "10.24.234.19:80")
	if got := w.next(t); !equal(got, want) {
		t.Errorf("Watch(file://%s) = %v, want %v", path, got, want)
	}
}

func TestFileEdits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "servers.txt")
	writeFile(t, path, "127.0.0.1:8001\n")
	w := watch(t, mustNew(t, "FiLe://"+path, nil)) // default interval: 100ms
	w.waitFor(t, nodes("127.0.0.1:8001"))

	start := time.Now()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "127.0.0.1:8002 new")
	f.Close()
	w.waitFor(t, nodes("127.0.0.1:8001", "127.0.0.1:8002 new"))
	if d := time.Since(start); d > time.Second {
		t.Errorf("append seen after %v, want about 100ms", d)
	}

	tmp := filepath.Join(dir, "servers.tmp") // replaced by rename: another inode
	writeFile(t, tmp, "127.0.0.1:8003\n127.0.0.1:8004\n")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, nodes("127.0.0.1:8003", "127.0.0.1:8004"))
}

func TestFileSameSizeEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.txt")
	writeFile(t, path, "127.0.0.1:8001\n")
	w := watch(t, mustNew(t, "file://"+path, fastFile(&naming.Options{})))
	w.waitFor(t, nodes("127.0.0.1:8001"))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0) // same inode, same size: only the mtime tells
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("127.0.0.1:8009\n")
	f.Close()
	later := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	w.waitFor(t, nodes("127.0.0.1:8009"))
}

func TestFileDeletedKeepsList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "servers.txt")
	writeFile(t, path, "127.0.0.1:8001\n")
	log, buf := newLog()
	w := watch(t, mustNew(t, "file://"+path, fastFile(&naming.Options{Logger: log})))
	w.waitFor(t, nodes("127.0.0.1:8001"))

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	buf.waitFor(t, "cannot read the server list file")
	w.none(t, 100*time.Millisecond) // ten polls: the last list is kept, nothing reported
	if n := strings.Count(buf.String(), "cannot read"); n != 1 {
		t.Errorf("warnings after 10 failed polls = %d, want 1 per failure streak:\n%s", n, buf)
	}
	if !strings.Contains(buf.String(), path) {
		t.Errorf("warning %q does not name %s", buf, path)
	}

	writeFile(t, path, "127.0.0.1:8002\n")
	w.waitFor(t, nodes("127.0.0.1:8002"))
}

func TestFileGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file.txt")
	writeFile(t, path, "127.0.0.1:1\n\x00\xff junk\n10.39.2.300:8000\nnot an address at all\n127.0.0.1:2 ok\n")
	log, buf := newLog()
	w := watch(t, mustNew(t, "file://"+path, &naming.Options{Logger: log}))
	if got, want := w.next(t), nodes("127.0.0.1:1", "127.0.0.1:2 ok"); !equal(got, want) {
		t.Errorf("Watch() = %v, want %v", got, want)
	}
	for _, at := range []string{"file.txt:2", "file.txt:3", "file.txt:4"} {
		if !strings.Contains(buf.String(), at) {
			t.Errorf("log = %q, want a warning naming %s", buf, at)
		}
	}
}

func TestFileUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.txt")
	_, err := naming.New("file://"+path, nil)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("New(file://%s) = %v, want an error naming the path", path, err)
	}
	if _, err := naming.New("file://"+t.TempDir(), nil); err == nil {
		t.Errorf("New(file://<a directory>) = nil error, want an error")
	}
}

func TestFileEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.txt")
	writeFile(t, path, "")
	w := watch(t, mustNew(t, "file://"+path, nil))
	if got := w.next(t); len(got) != 0 {
		t.Errorf("Watch(empty file) = %v, want []", got)
	}
}

func TestFileThousandServers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.txt")
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "10.1.%d.%d:%d %d\n", i/256, i%256, 10000+i, i+1)
	}
	writeFile(t, path, b.String())
	w := watch(t, mustNew(t, "file://"+path, nil))
	got := w.next(t)
	if len(got) != 1000 || got[999] != (naming.ServerNode{Addr: "10.1.3.231:10999", Tag: "1000", Weight: 1000}) {
		t.Errorf("Watch(1000 servers) = %d servers, last %v, want 1000, last 10.1.3.231:10999 1000", len(got), got[len(got)-1])
	}
}
