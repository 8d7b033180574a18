package realtime

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/citybrain-ioc/citybrain/services/auth"
)

// client is one connection. Only writeLoop writes to conn.
type client struct {
	g      *Gateway
	conn   *websocket.Conn
	claims auth.Claims
	send   chan []byte
	done   chan struct{}
	once   sync.Once

	subscribed bool // guarded by g.mu
}

// queue hands a message to the writer; a full queue drops the client.
// Called with or without g.mu held; never blocks.
func (c *client) queue(msg []byte) {
	select {
	case <-c.done:
		return
	default:
	}
	select {
	case c.send <- msg:
		c.g.sent.Inc()
	default:
		c.g.dropped.Inc()
		c.close()
	}
}

func (c *client) close() {
	c.once.Do(func() { close(c.done) })
}

func (c *client) writeLoop() {
	ping := time.NewTicker(pingEvery)
	defer func() {
		ping.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case msg := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				c.close()
				return
			}
		case <-ping.C:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				c.close()
				return
			}
		case <-c.done:
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			code, text := websocket.CloseGoingAway, "server shutting down"
			select {
			case <-c.g.closing:
			default:
				code, text = websocket.ClosePolicyViolation, "too slow or closed"
			}
			_ = c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(code, text))
			return
		}
	}
}

type request struct {
	Op      string `json:"op"`
	Channel string `json:"channel"`
	Since   string `json:"since"`
}

func (c *client) readLoop() {
	defer func() {
		c.g.remove(c)
		c.close()
		c.g.conns.Dec()
	}()
	c.conn.SetReadLimit(readLimit)
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
		var req request
		if err := json.Unmarshal(data, &req); err != nil {
			c.queue(mustJSON(map[string]any{"type": "error", "code": "bad_request", "message": "messages are JSON: {\"op\":\"subscribe\",\"channel\":\"wall\"}"}))
			continue
		}
		switch {
		case req.Op == "subscribe" && req.Channel == "wall":
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c.g.subscribe(ctx, c, req.Since)
			cancel()
		case req.Op == "subscribe":
			c.queue(mustJSON(map[string]any{"type": "error", "code": "unknown_channel", "message": "unknown channel " + req.Channel}))
		default:
			c.queue(mustJSON(map[string]any{"type": "error", "code": "bad_request", "message": "unknown op " + req.Op}))
		}
	}
}
