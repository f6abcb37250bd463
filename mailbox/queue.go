package mailbox

// ring is a growable FIFO of messages. It is not synchronised; its owner holds a lock.
type ring struct {
	buf        []any
	head, size int
}

func (r *ring) push(m any) {
	if r.size == len(r.buf) {
		r.grow()
	}
	r.buf[(r.head+r.size)%len(r.buf)] = m
	r.size++
}

func (r *ring) pop() (any, bool) {
	if r.size == 0 {
		return nil, false
	}
	m := r.buf[r.head]
	r.buf[r.head] = nil
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return m, true
}

func (r *ring) grow() {
	n := max(2*len(r.buf), 4)
	buf := make([]any, n)
	for i := range r.size {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = buf, 0
}

// clear drops every queued message.
func (r *ring) clear() {
	for r.size > 0 {
		r.pop()
	}
}
