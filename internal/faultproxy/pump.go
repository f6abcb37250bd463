package faultproxy

import (
	"net"
	"time"
)

// pump relays src to dst through the faults of dir until either side ends, then closes the pair.
func (p *Proxy) pump(pr *pair, dir Dir, src, dst net.Conn) {
	defer pr.close(false)
	buf := make([]byte, 32<<10)
	var off int64 // stream offset of the next byte read
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.forward(pr, dir, dst, buf[:n], &off) {
			return
		}
		if err != nil {
			return
		}
	}
}

// forward applies dir's faults to b, the bytes at stream offset *off, and writes what is left of
// them. It returns false once the pair is finished.
func (p *Proxy) forward(pr *pair, dir Dir, dst net.Conn, b []byte, off *int64) bool {
	delayed := false
	for {
		f, changed := p.faults(dir)
		switch {
		case f.reset:
			pr.close(true)
			return false
		case f.cutAfter >= 0 && *off+int64(len(b)) > f.cutAfter:
			if keep := f.cutAfter - *off; keep > 0 {
				_ = p.write(pr, dir, dst, b[:keep], 0)
			}
			pr.close(false)
			return false
		case f.stall:
			if !p.wait(pr, changed, 0) {
				return false
			}
			continue
		case f.blackhole:
			*off += int64(len(b))
			return true
		case f.delay > 0 && !delayed:
			if !p.wait(pr, changed, f.delay) {
				return false
			}
			delayed = true
			continue
		}
		if f.corruptAll {
			for i := range b {
				b[i] ^= 0xff
			}
		}
		if at := f.corruptAt - *off; f.corruptAt >= 0 && at >= 0 && at < int64(len(b)) {
			b[at] ^= 0xff
		}
		*off += int64(len(b))
		return p.write(pr, dir, dst, b, f.throttle)
	}
}

// write writes b to dst, at about bytesPerSec when that is positive.
func (p *Proxy) write(pr *pair, dir Dir, dst net.Conn, b []byte, bytesPerSec int) bool {
	piece := len(b)
	if bytesPerSec > 0 {
		piece = max(1, bytesPerSec/20)
	}
	for len(b) > 0 {
		n := min(piece, len(b))
		if bytesPerSec > 0 && !p.wait(pr, nil, time.Duration(n)*time.Second/time.Duration(bytesPerSec)) {
			return false
		}
		p.bytes[dir].Add(int64(n)) // before the peer can see them, so Stats never lags an answer
		m, err := dst.Write(b[:n])
		p.bytes[dir].Add(int64(m - n))
		if err != nil {
			return false
		}
		b = b[n:]
	}
	return true
}

// wait waits for d (forever when 0) or until changed is closed. It returns false when the pair
// or the proxy closed meanwhile.
func (p *Proxy) wait(pr *pair, changed <-chan struct{}, d time.Duration) bool {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
	case <-changed:
	case <-pr.closed:
		return false
	case <-p.done:
		return false
	}
	return true
}
