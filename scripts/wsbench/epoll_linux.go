//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// The epoll reader: the clients' connections are read by a few event loops
// (level-triggered epoll, one read per readiness into a buffer the loop
// shares) instead of a goroutine per connection through gorilla's reader.
//
// Why: the 10,000 clients share the gateway's two cores, where a city's
// devices would each read with their own CPU, so every cycle the client
// process spends is taken from the gateway it measures. A goroutine per
// connection costs two read syscalls per batch the gateway writes (the
// second one finds the socket empty and parks the goroutine), a netpoll
// wake-up and a goroutine switch; a loop costs one read and a share of an
// epoll_wait. The latency measured is the same: the time a delta's frame
// was read, against its commit time. -reader gorilla keeps the old way.

const (
	maxCarry    = 14 + headLen // the longest frame header and a head
	loopTimeout = 50           // ms: how often a loop looks at stop while idle
)

// rawConn is a client connection owned by an event loop.
type rawConn struct {
	c       *bclient
	fd      int
	carry   []byte // an incomplete frame header (and head) from the last read
	skip    int64  // payload bytes of the current frame still to discard
	snapped bool
	removed bool
}

type eloop struct {
	epfd  int
	mu    sync.Mutex
	conns map[int32]*rawConn
	all   []*rawConn // every connection, read or not, closed at the end
}

// loops is a set of event loops the clients are spread over.
type loops struct {
	ls   []*eloop
	next atomic.Uint32
}

func newLoops(n int, h *atomic.Pointer[hist], stop <-chan struct{}, wg *sync.WaitGroup) (*loops, error) {
	ls := &loops{}
	for range n {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("epoll: %w", err)
		}
		l := &eloop{epfd: fd, conns: make(map[int32]*rawConn)}
		ls.ls = append(ls.ls, l)
		wg.Add(1)
		go l.run(h, stop, wg)
	}
	return ls, nil
}

// add hands c's connection to a loop: its descriptor is duplicated (the
// handshake and the subscription were gorilla's, and nothing has been read
// since) and gorilla's connection closed, so the Go runtime's poller no
// longer watches it.
func (ls *loops) add(c *bclient, ws *websocket.Conn) error {
	defer func() { _ = ws.Close() }() // the loop reads a duplicate of its descriptor
	tc, ok := ws.NetConn().(*net.TCPConn)
	if !ok {
		return fmt.Errorf("not a TCP connection: %T", ws.NetConn())
	}
	sc, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	var derr error
	if err := sc.Control(func(s uintptr) {
		// F_DUPFD_CLOEXEC: the producer process this one starts must not
		// inherit 10,000 sockets.
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r)
	}); err != nil {
		return err
	}
	if derr != nil {
		return fmt.Errorf("dup: %w", derr)
	}
	l := ls.ls[int(ls.next.Add(1))%len(ls.ls)]
	rc := &rawConn{c: c, fd: fd}
	l.mu.Lock()
	l.conns[int32(fd)] = rc
	l.all = append(l.all, rc)
	l.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

func (l *eloop) run(h *atomic.Pointer[hist], stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	defer l.closeAll()
	events := make([]syscall.EpollEvent, 512)
	buf := make([]byte, 256<<10)
	for {
		select {
		case <-stop:
			return
		default:
		}
		n, err := syscall.EpollWait(l.epfd, events, loopTimeout)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			panic(fmt.Sprintf("epoll_wait: %v", err))
		}
		for i := range n {
			l.mu.Lock()
			rc := l.conns[events[i].Fd]
			l.mu.Unlock()
			if rc != nil {
				l.read(rc, buf, h.Load())
			}
		}
	}
}

func (l *eloop) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, rc := range l.all {
		_ = syscall.Close(rc.fd)
	}
	l.all, l.conns = nil, nil
	_ = syscall.Close(l.epfd)
}

// remove stops watching rc; a slow reader's socket stays open (unread).
func (l *eloop) remove(rc *rawConn) {
	if rc.removed {
		return
	}
	rc.removed = true
	_ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, rc.fd, nil)
	l.mu.Lock()
	delete(l.conns, int32(rc.fd))
	l.mu.Unlock()
}

func (l *eloop) end(rc *rawConn, err error) {
	c := rc.c
	c.err = err
	c.dead.Store(true)
	if !rc.snapped {
		rc.snapped = true
		close(c.snapshot)
	}
	l.remove(rc)
}

// read reads what rc's socket holds (once: the loop is level-triggered)
// and handles the frames in it.
func (l *eloop) read(rc *rawConn, buf []byte, h *hist) {
	if rc.c.slow.Load() {
		l.remove(rc) // a slow reader stops reading altogether
		return
	}
	n, err := syscall.Read(rc.fd, buf)
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	if err == nil {
		err = rc.consume(buf[:n], time.Now().UnixMilli(), h)
	}
	if err != nil {
		l.end(rc, err)
	}
}

// consume handles the frames in data, read at now; a frame cut at the end
// of data goes on with the next read.
func (rc *rawConn) consume(data []byte, now int64, h *hist) error {
	for len(data) > 0 {
		if rc.skip > 0 {
			k := min(int64(len(data)), rc.skip)
			data, rc.skip = data[k:], rc.skip-k
			continue
		}
		p := data
		old := len(rc.carry)
		if old > 0 {
			rc.carry = append(rc.carry, data[:min(len(data), maxCarry)]...)
			p = rc.carry
		}
		used, err := rc.frame(p, now, h)
		if err != nil {
			return err
		}
		if used == 0 { // incomplete: keep it for the next read
			if old == 0 {
				rc.carry = append(rc.carry[:0], p...)
			}
			return nil
		}
		rc.carry = rc.carry[:0]
		data = data[used-old:]
	}
	return nil
}

// frame handles the frame at the start of p and returns how many bytes of
// p it used: 0 when p does not yet hold its header and head; all of p when
// the frame goes on past p (the rest is skipped as it comes).
func (rc *rawConn) frame(p []byte, now int64, h *hist) (int, error) {
	if len(p) < 2 {
		return 0, nil
	}
	op := p[0] & 0x0f
	if p[1]&0x80 != 0 {
		return 0, fmt.Errorf("masked frame from the server")
	}
	hl, size := 2, int64(p[1]&0x7f)
	switch size {
	case 126:
		if len(p) < 4 {
			return 0, nil
		}
		hl, size = 4, int64(p[2])<<8|int64(p[3])
	case 127:
		if len(p) < 10 {
			return 0, nil
		}
		hl, size = 10, 0
		for _, b := range p[2:10] {
			size = size<<8 | int64(b)
		}
	}
	head := min(size, headLen)
	if int64(len(p)-hl) < head {
		return 0, nil
	}
	payload := p[hl : hl+int(head)]
	switch op {
	case websocket.TextMessage, websocket.BinaryMessage:
		// (A message in several frames starts with one of these; its
		// continuation frames are skipped: the head is all that is read.)
		rc.c.message(payload, now, h, &rc.snapped)
	case websocket.PingMessage:
		pong := make([]byte, 0, 6+len(payload))
		pong = append(pong, 0x80|websocket.PongMessage, 0x80|byte(len(payload)), 0, 0, 0, 0) // mask key 0
		pong = append(pong, payload...)
		_, _ = syscall.Write(rc.fd, pong)
	case websocket.CloseMessage:
		return 0, &websocket.CloseError{Code: closeCode(payload), Text: string(payload[min(2, len(payload)):])}
	}
	if avail := int64(len(p) - hl); avail < size {
		rc.skip = size - avail
		return len(p), nil
	}
	return hl + int(size), nil
}

func closeCode(p []byte) int {
	if len(p) < 2 {
		return websocket.CloseNoStatusReceived
	}
	return int(p[0])<<8 | int(p[1])
}
