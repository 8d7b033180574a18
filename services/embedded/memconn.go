package embedded

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// memConn is one end of an in-memory connection that behaves like a
// socket: a Write returns once its bytes are buffered (up to memConnBuffer
// waiting in one direction; beyond that it waits for the reader, as a full
// socket buffer does), a Read returns what is buffered or waits for it, and
// both honour deadlines. net.Pipe is not enough: it hands each Write over
// synchronously, so a client that writes a pipeline of commands before
// reading any reply waits on a server that answers the first command
// before reading the next, and the two wait on each other until a deadline
// (go-redis pipelines on miniredis: "write pipe: i/o timeout").
type memConn struct {
	rx, tx    *memPipe // what this end reads, what it writes
	local     net.Addr
	peer      net.Addr
	rdl, wdl  deadline
	closeOnce sync.Once
	done      chan struct{} // closed by Close on this end
}

// memConnBuffer is how many bytes may wait in one direction.
const memConnBuffer = 4 << 20

// memPipe is one direction of a connection.
type memPipe struct {
	mu    sync.Mutex
	buf   []byte
	off   int           // buf[off:] is unread
	eof   bool          // the writing end closed: reads drain buf, then io.EOF
	gone  bool          // the reading end closed: writes fail
	data  chan struct{} // cap 1: bytes arrived, or eof
	space chan struct{} // cap 1: bytes were read, or gone
}

func newMemPipe() *memPipe {
	return &memPipe{data: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// memConnPair returns the two ends of a new connection, with the given
// local addresses.
func memConnPair(aAddr, bAddr net.Addr) (a, b *memConn) {
	ab, ba := newMemPipe(), newMemPipe()
	a = &memConn{rx: ba, tx: ab, local: aAddr, peer: bAddr, rdl: makeDeadline(), wdl: makeDeadline(), done: make(chan struct{})}
	b = &memConn{rx: ab, tx: ba, local: bAddr, peer: aAddr, rdl: makeDeadline(), wdl: makeDeadline(), done: make(chan struct{})}
	return a, b
}

func (c *memConn) Read(b []byte) (int, error) {
	p := c.rx
	for {
		select {
		case <-c.done:
			return 0, net.ErrClosed
		default:
		}
		p.mu.Lock()
		if p.off < len(p.buf) {
			n := copy(b, p.buf[p.off:])
			p.off += n
			if p.off == len(p.buf) {
				p.off = 0
				p.buf = p.buf[:0]
				if cap(p.buf) > 64<<10 {
					p.buf = nil // a large burst does not stay allocated
				}
			}
			p.mu.Unlock()
			signal(p.space)
			return n, nil
		}
		if p.eof {
			p.mu.Unlock()
			return 0, io.EOF
		}
		p.mu.Unlock()
		if len(b) == 0 {
			return 0, nil
		}
		select {
		case <-p.data:
		case <-c.done:
			return 0, net.ErrClosed
		case <-c.rdl.wait():
			return 0, os.ErrDeadlineExceeded
		}
	}
}

func (c *memConn) Write(b []byte) (int, error) {
	p := c.tx
	n := 0
	for {
		select {
		case <-c.done:
			return n, net.ErrClosed
		case <-c.wdl.wait():
			return n, os.ErrDeadlineExceeded
		default:
		}
		p.mu.Lock()
		if p.gone {
			p.mu.Unlock()
			return n, io.ErrClosedPipe
		}
		if room := memConnBuffer - (len(p.buf) - p.off); room > 0 {
			if p.off > 0 && p.off >= len(p.buf)/2 {
				p.buf = p.buf[:copy(p.buf, p.buf[p.off:])] // keep the unread part at the front
				p.off = 0
			}
			k := min(room, len(b)-n)
			p.buf = append(p.buf, b[n:n+k]...)
			n += k
			p.mu.Unlock()
			signal(p.data)
			if n == len(b) {
				return n, nil
			}
			continue
		}
		p.mu.Unlock()
		select {
		case <-p.space:
		case <-c.done:
			return n, net.ErrClosed
		case <-c.wdl.wait():
			return n, os.ErrDeadlineExceeded
		}
	}
}

// Close ends this end: the peer reads what was written before, then EOF;
// its writes fail.
func (c *memConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.tx.mu.Lock()
		c.tx.eof = true
		c.tx.mu.Unlock()
		signal(c.tx.data)
		c.rx.mu.Lock()
		c.rx.gone = true
		c.rx.mu.Unlock()
		signal(c.rx.space)
	})
	return nil
}

func (c *memConn) LocalAddr() net.Addr  { return c.local }
func (c *memConn) RemoteAddr() net.Addr { return c.peer }

func (c *memConn) SetDeadline(t time.Time) error {
	c.rdl.set(t)
	c.wdl.set(t)
	return nil
}
func (c *memConn) SetReadDeadline(t time.Time) error  { c.rdl.set(t); return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { c.wdl.set(t); return nil }

// deadline is a settable point in time whose channel is closed once it
// has passed.
type deadline struct {
	mu     *sync.Mutex
	timer  *time.Timer
	passed chan struct{}
}

func makeDeadline() deadline { return deadline{mu: new(sync.Mutex), passed: make(chan struct{})} }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.passed // the timer fired: wait for its close
	}
	d.timer = nil
	closed := isClosed(d.passed)
	if t.IsZero() {
		if closed {
			d.passed = make(chan struct{})
		}
		return
	}
	if wait := time.Until(t); wait > 0 {
		if closed {
			d.passed = make(chan struct{})
		}
		ch := d.passed
		d.timer = time.AfterFunc(wait, func() { close(ch) })
		return
	}
	if !closed {
		close(d.passed)
	}
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passed
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// memAddr names an end of an in-memory connection.
type memAddr string

func (a memAddr) Network() string { return "memory" }
func (a memAddr) String() string  { return string(a) }
