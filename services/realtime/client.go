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
// Writes: exactly one goroutine, writeLoop, writes messages to the
// connection. It writes the shared pre-encoded frames straight to the
// underlying net.Conn, several queued frames in one writev, instead of
// through gorilla's writer (which flushes every message with its own
// syscall and needs a write buffer per connection). gorilla itself writes
// only control frames from the read side (a pong, the echo of a close, the
// close it sends on a protocol error or an oversized message), each in one
// Write call; a net.Conn serialises whole Write calls, so frames never
// interleave.
type client struct {
	g      *Gateway
	conn   *websocket.Conn // read side (and handshake) only
	nc     net.Conn
	viewer viewer

	mu        sync.Mutex
	q         []*frame // waiting for the writer, oldest first
	spare     []*frame // the writer's previous batch, reused
	closed    bool
	closeCode int // the close frame to send; 0 for none
	closeText string

	wake chan struct{} // cap 1: the queue became non-empty
	done chan struct{} // closed when the connection is to end

	// Guarded by g.mu.
	subs     [numChannels]bool
	nsubs    int
	liveNode bool // in g.conns
}

// push queues f for the writer and reports whether the writer must be
// woken. It never blocks: a client whose queue is full is dropped. A newer
// message of the same incident (or the same stats) on the same channel
// replaces an older one that is still queued, so a slow-ish client gets
// the latest state instead of every intermediate one; the newer message
// goes to the end, so seqs stay increasing in delivery order.
func (c *client) push(f *frame) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	if f.key != "" {
		for i := len(c.q) - 1; i >= 0; i-- {
			if o := c.q[i]; o.ch == f.ch && o.key == f.key {
				copy(c.q[i:], c.q[i+1:])
				c.q[len(c.q)-1] = f
				c.mu.Unlock()
				c.g.metrics.coalesced.Inc()
				return false // the queue was not empty: the writer is already woken
			}
		}
	}
	if len(c.q) >= c.g.queueLimit {
		c.closeLocked(websocket.ClosePolicyViolation, "too slow: reconnect and resume")
		c.mu.Unlock()
		c.g.metrics.dropped.Inc()
		return false
	}
	if c.q == nil && c.spare != nil {
		c.q, c.spare = c.spare, nil
	}
	c.q = append(c.q, f)
	first := len(c.q) == 1
	c.mu.Unlock()
	c.g.metrics.sent.Inc()
	return first
}

// signal wakes the writer.
func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// send queues one message and wakes the writer.
func (c *client) send(f *frame) {
	if c.push(f) {
		c.signal()
	}
}

// close ends the connection: the writer sends a close frame with code (none
// when 0) and closes it.
func (c *client) close(code int, text string) {
	c.mu.Lock()
	c.closeLocked(code, text)
	c.mu.Unlock()
}

func (c *client) closeLocked(code int, text string) {
	if c.closed {
		return
	}
	c.closed, c.closeCode, c.closeText = true, code, text
	c.q = nil
	close(c.done)
	if code == websocket.ClosePolicyViolation {
		// Unblock a writer stuck on a client that does not read.
		_ = c.nc.SetWriteDeadline(time.Now())
	}
}

// take returns the queued frames and gives the writer's previous batch
// back as the next queue's storage.
func (c *client) take(prev []*frame) []*frame {
	clear(prev)
	c.mu.Lock()
	b := c.q
	c.q = nil
	if cap(prev) > 0 && cap(prev) <= 64 {
		c.spare = prev[:0] // larger ones go back to the heap: idle connections stay small
	}
	c.mu.Unlock()
	return b
}

var buffersPool = sync.Pool{New: func() any { return new(net.Buffers) }}

func (c *client) writeLoop() {
	defer c.g.writers.Done()
	ping := time.NewTicker(c.g.pingEvery)
	defer ping.Stop()
	var batch []*frame
	broken := false
	for !broken {
		select {
		case <-c.wake:
			for {
				batch = c.take(batch)
				if len(batch) == 0 {
					break
				}
				if err := c.write(batch); err != nil {
					broken = true
					break
				}
			}
		case <-ping.C:
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.g.writeWait))
			if _, err := c.nc.Write(pingFrame); err != nil {
				broken = true
			}
		case <-c.done:
			c.finish()
			return
		}
	}
	c.close(0, "")
	c.nc.Close()
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
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.g.writeWait + time.Duration(n)*time.Second/minWriteRate))
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

// finish sends the close frame, if any, and closes the connection.
func (c *client) finish() {
	c.mu.Lock()
	code, text := c.closeCode, c.closeText
	c.mu.Unlock()
	if code != 0 {
		_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.nc.Write(closeFrame(code, text))
	}
	c.nc.Close()
}

type request struct {
	Op      string `json:"op"`
	Channel string `json:"channel"`
	Since   string `json:"since"`
}

func (c *client) readLoop() {
	defer func() {
		c.g.remove(c)
		c.close(0, "")
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
			return
		}
		tokens--
		c.handle(data)
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
		if !errors.Is(err, errClosed) {
			c.g.log.Warn("realtime: subscribe failed", "channel", ch.String(), "err", err)
			c.send(errorFrame("unavailable", "snapshot failed, subscribe again"))
		}
	}
}
