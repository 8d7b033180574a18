package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// client is one connection.
//
// Writes: at most one goroutine at a time writes messages to the
// connection. It is started when the queue becomes non-empty and ends when
// the queue is empty again, so an idle connection costs no writer goroutine
// (half of what a connection would otherwise cost in stacks). It writes the
// shared pre-encoded frames straight to the underlying net.Conn, several
// queued frames in one writev, instead of through gorilla's writer (which
// flushes every message with its own syscall and needs a write buffer per
// connection). gorilla itself writes only control frames from the read side
// (a pong, the echo of a close, the close it sends on a protocol error or
// an oversized message), each in one Write call; a net.Conn serialises
// whole Write calls, so frames never interleave.
type client struct {
	g      *Gateway
	conn   *websocket.Conn // read side (and handshake) only
	nc     net.Conn
	viewer viewer
	ping   *time.Timer

	mu        sync.Mutex
	q         []*frame  // waiting for the writer, oldest first
	spare     []*frame  // the writer's previous batch, reused
	writing   bool      // a writer goroutine is running (or has finished the connection)
	deadline  time.Time // the write deadline set last (the writer's own)
	closed    bool
	closeCode int // the close frame to send; 0 for none
	closeText string
	abandoned bool // the reader has ended: no more write deadlines (abandon)

	finished chan struct{} // closed when the writer has closed the connection
	readDone chan struct{} // closed when the reader has stopped reading

	// Guarded by g.mu.
	subs     [numChannels]bool
	nsubs    int
	liveNode bool // in g.conns
}

// coalesceWindow is how many of the newest queued messages push looks at
// for an older state of the same incident: enough for the burst of changes
// one incident sees, and a bounded cost per push however long a slow
// client's queue has grown.
const coalesceWindow = 64

// push queues f and reports whether the caller must start the writer
// (startWriter), now or after queueing more. It never blocks: a client
// whose queue is full is dropped. A newer message of the same incident (or
// the same stats) on the same channel replaces an older one among the last
// coalesceWindow still queued, so a slow-ish client gets the latest state
// instead of every intermediate one; the newer message goes to the end, so
// seqs stay increasing in delivery order.
func (c *client) push(f *frame) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if f.kh != 0 {
		for i := len(c.q) - 1; i >= max(0, len(c.q)-coalesceWindow); i-- {
			if o := c.q[i]; o.kh == f.kh && o.ch == f.ch && o.key == f.key {
				copy(c.q[i:], c.q[i+1:])
				c.q[len(c.q)-1] = f
				c.mu.Unlock()
				c.g.metrics.coalesced.Inc()
				return false // the queue was not empty: a writer is on it
			}
		}
	}
	if len(c.q) >= c.g.queueLimit {
		start := c.closeLocked(websocket.ClosePolicyViolation, "too slow: reconnect and resume")
		// Unblock a writer stuck on a client that does not read (only
		// here: a deadline in the past would break the write in progress
		// to a client closed for another reason, and lose its close frame).
		_ = c.nc.SetWriteDeadline(time.Now())
		c.mu.Unlock()
		c.g.metrics.dropped.Inc()
		return start
	}
	if c.q == nil && c.spare != nil {
		c.q, c.spare = c.spare, nil
	}
	c.q = append(c.q, f)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	c.g.metrics.sent.Inc()
	return start
}

// startWriter starts the writer goroutine; call it once for every push
// (or close) that returned true.
func (c *client) startWriter() { go c.writeLoop() }

// send queues one message and starts the writer if need be.
func (c *client) send(f *frame) {
	if c.push(f) {
		c.startWriter()
	}
}

// close ends the connection: the writer sends a close frame with code (none
// when 0) and closes it.
func (c *client) close(code int, text string) {
	c.mu.Lock()
	start := c.closeLocked(code, text)
	c.mu.Unlock()
	if start {
		c.startWriter()
	}
}

func (c *client) closeLocked(code int, text string) (start bool) {
	if c.closed {
		return false
	}
	c.closed, c.closeCode, c.closeText = true, code, text
	c.q = nil
	if code == websocket.CloseGoingAway {
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	}
	start = !c.writing
	c.writing = true
	return start
}

// sendPing queues a ping (a timer calls it every pingEvery). It also ends
// the connection once the token the ticket was issued for has expired, so
// a connection does not outlive its credentials by more than pingEvery.
func (c *client) sendPing() {
	if c.viewer.expires != 0 && time.Now().Unix() >= c.viewer.expires {
		c.close(websocket.ClosePolicyViolation, "token expired: log in again")
		return
	}
	c.send((&frame{b: pingFrame}).keyed("ping"))
	c.mu.Lock()
	if !c.closed {
		c.ping.Reset(c.g.pingEvery)
	}
	c.mu.Unlock()
}

var buffersPool = sync.Pool{New: func() any { return new(net.Buffers) }}

// writeLoop writes until the queue is empty, then ends; on a closed client
// it writes the close frame, if any, and closes the connection.
func (c *client) writeLoop() {
	var batch []*frame
	for {
		clear(batch)
		c.mu.Lock()
		if c.closed {
			code, text := c.closeCode, c.closeText
			c.mu.Unlock()
			c.finish(code, text)
			return
		}
		if cap(batch) > 0 && cap(batch) <= 64 {
			c.spare = batch[:0] // larger ones go back to the heap: idle connections stay small
		}
		batch = c.q
		c.q = nil
		if len(batch) == 0 {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if err := c.write(batch); err != nil {
			c.mu.Lock()
			c.closed = true
			c.q = nil
			c.mu.Unlock()
			c.finish(0, "") // broken mid-frame: no close frame
			return
		}
	}
}

// write sends a batch with one writev and a deadline that allows for its
// size (a 2 MB snapshot to a phone needs longer than a 1 KB delta).
func (c *client) write(batch []*frame) error {
	bufs := buffersPool.Get().(*net.Buffers)
	n := 0
	var oldest streamID
	for _, f := range batch {
		*bufs = append(*bufs, f.b)
		n += len(f.b)
		if oldest.isZero() && !f.seq.isZero() {
			oldest = f.seq
		}
	}
	// Setting a deadline costs a runtime timer update; a writer that
	// writes many small batches in a row keeps one until it is a second
	// shorter than writeWait.
	now := time.Now()
	if d := now.Add(c.g.writeWait + time.Duration(n)*time.Second/minWriteRate); d.Sub(c.deadline) > time.Second {
		c.mu.Lock()
		if !c.abandoned {
			_ = c.nc.SetWriteDeadline(d)
		}
		c.mu.Unlock()
		c.deadline = d
	}
	v := *bufs
	_, err := v.WriteTo(c.nc)
	clear(*bufs)
	*bufs = (*bufs)[:0]
	buffersPool.Put(bufs)
	if err != nil {
		return err
	}
	if !oldest.isZero() {
		c.g.metrics.lag.Observe(float64(time.Now().UnixMilli()-int64(oldest.ms)) / 1000)
	}
	return nil
}

// closeLinger is how long the writer waits, after a close frame, for the
// reader to see the client's answer (or the end of its stream) before it
// closes the socket.
const closeLinger = time.Second

// finish sends the close frame, if any, and closes the connection. After a
// close frame it shuts its side for writing and waits (up to closeLinger)
// for the reader to stop: a socket closed while the client's last messages
// are still unread is reset, and a reset can discard the close frame (and
// its reason) before the client reads it.
func (c *client) finish(code int, text string) {
	c.ping.Stop()
	if code != 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.nc.Write(closeFrame(code, text)); err == nil {
			if hc, ok := c.nc.(interface{ CloseWrite() error }); ok {
				_ = hc.CloseWrite()
			}
			t := time.NewTimer(closeLinger)
			select {
			case <-c.readDone:
			case <-t.C:
			}
			t.Stop()
		}
	}
	_ = c.nc.Close()
	close(c.finished)
}

type request struct {
	Op      string `json:"op"`
	Channel string `json:"channel"`
	Since   string `json:"since"`
}

func (c *client) readLoop() {
	defer func() {
		close(c.readDone)
		c.g.remove(c)
		c.close(0, "")
		c.abandon()
		<-c.finished
		c.g.metrics.conns.Dec()
	}()
	c.conn.SetReadLimit(readLimit)
	_ = c.conn.SetReadDeadline(time.Now().Add(c.g.pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(c.g.pongWait)) })
	tokens, last := float64(msgBurst), time.Now()
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return // gone, closed, too big (gorilla has sent 1009) or silent for pongWait
		}
		now := time.Now()
		_ = c.conn.SetReadDeadline(now.Add(c.g.pongWait))
		tokens = min(msgBurst, tokens+now.Sub(last).Seconds()*msgRate)
		last = now
		if tokens < 1 {
			c.close(websocket.ClosePolicyViolation, "too many messages")
			c.drain()
			return
		}
		tokens--
		// Handled on a goroutine of its own: a subscription takes a deep
		// stack (JSON, snapshots) that this long-lived one would keep.
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.handle(data)
		}()
		<-done
	}
}

// abandon ends a write in progress once the reader has ended: the client
// is gone, has closed, or has been silent for pongWait, and a writer blocked
// on its full socket would otherwise wait out its deadline — which allows
// size/minWriteRate for a large batch, over a minute for a slow reader's
// backlog — while that backlog stays in memory. A close frame the writer
// has to send (closeCode) keeps the second finish gives it.
func (c *client) abandon() {
	c.mu.Lock()
	c.abandoned = true
	if c.closeCode == 0 {
		_ = c.nc.SetWriteDeadline(time.Now())
	}
	c.mu.Unlock()
}

// drain reads and drops what the client still sends after the server
// closed the connection, until the client answers the close (or stops, or
// closeLinger passes), so that the writer's close does not reset it.
func (c *client) drain() {
	_ = c.conn.SetReadDeadline(time.Now().Add(closeLinger))
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}

func (c *client) handle(data []byte) {
	var req request
	if err := json.Unmarshal(data, &req); err != nil {
		c.send(errorFrame("bad_request", `messages are JSON: {"op":"subscribe","channel":"wall"}`))
		return
	}
	if req.Op != "subscribe" && req.Op != "unsubscribe" {
		c.send(errorFrame("bad_request", "unknown op "+req.Op))
		return
	}
	ch, ok := parseChannel(req.Channel)
	if !ok {
		c.send(errorFrame("unknown_channel", "unknown channel "+req.Channel))
		return
	}
	if req.Op == "unsubscribe" {
		c.g.unsubscribe(c, ch)
		return
	}
	if !allowed(c.viewer.role, ch) {
		c.send(errorFrame("forbidden", "role "+c.viewer.role+" may not subscribe to "+ch.String()))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.g.subscribe(ctx, c, ch, req.Since); err != nil {
		if errors.Is(err, errRestoring) {
			c.send(errorFrame("restoring", "the situation is being restored from the event log: connect again in a few seconds"))
			return
		}
		if !errors.Is(err, errClosed) {
			c.g.log.Warn("realtime: subscribe failed", "channel", ch.String(), "err", err)
			c.send(errorFrame("unavailable", "snapshot failed, subscribe again"))
		}
	}
}
