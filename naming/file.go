package naming

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// fileService is file://path: the file's entries, re-read when the file changes.
type fileService struct {
	path     string
	interval time.Duration
	log      *slog.Logger
	initial  []ServerNode // the list New read, reported if the file is gone when Watch starts
}

func newFile(target string, opts *Options) (Service, error) {
	s := &fileService{path: target, interval: opts.FileInterval, log: opts.Logger}
	nodes, _, err := s.read()
	if err != nil {
		return nil, err
	}
	s.initial = nodes
	return s, nil
}

// read reads and parses the file, and returns the FileInfo of what it read.
func (s *fileService) read() ([]ServerNode, os.FileInfo, error) {
	f, err := os.Open(s.path)
	if err != nil {
		return nil, nil, fmt.Errorf("naming: file://%s: %w", s.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("naming: file://%s: %w", s.path, err)
	}
	text, err := io.ReadAll(f)
	if err != nil {
		return nil, nil, fmt.Errorf("naming: file://%s: %w", s.path, err)
	}
	return ParseEntries(s.path, string(text), s.log), fi, nil
}

// Watch reports the file's list, then checks the file every interval and reports the list again
// when the file changed (mtime, size, or another file renamed over it) and its list differs. A
// file that cannot be read keeps the last list; one warning is logged per failure streak.
func (s *fileService) Watch(ctx context.Context, update func([]ServerNode)) error {
	w := fileWatch{fileService: s, r: reporter{update: update}}
	w.reload()
	if !w.r.sent {
		w.r.report(s.initial)
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			w.poll()
		}
	}
}

// fileWatch is the state of one Watch of a file.
type fileWatch struct {
	*fileService
	r       reporter
	prev    os.FileInfo // what the last successful read saw; nil after a failure
	failing bool        // a failure was logged and no read succeeded since
}

// poll re-reads the file when it looks changed.
func (w *fileWatch) poll() {
	fi, err := os.Stat(w.path)
	if err != nil {
		w.fail(err)
		return
	}
	if w.prev != nil && os.SameFile(w.prev, fi) && fi.Size() == w.prev.Size() &&
		fi.ModTime().Equal(w.prev.ModTime()) {
		return
	}
	w.reload()
}

// reload reads the file and reports its list.
func (w *fileWatch) reload() {
	nodes, fi, err := w.read()
	if err != nil {
		w.fail(err)
		return
	}
	if w.failing {
		w.log.Info("naming: server list file is readable again", "path", w.path)
	}
	w.prev, w.failing = fi, false
	w.r.report(nodes)
}

// fail logs the first failure of a streak; the next successful stat reads the file again.
func (w *fileWatch) fail(err error) {
	if !w.failing {
		w.log.Warn("naming: cannot read the server list file, keeping the last list",
			"path", w.path, "err", err)
	}
	w.prev, w.failing = nil, true
}
