package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// Protocol is the websocket subprotocol name.
const Protocol = "citybrain.v1"

// Limits of one connection.
const (
	sendQueue     = 512              // messages queued per client before it is dropped
	readLimit     = 4096             // bytes per client message
	writeWait     = 5 * time.Second  // deadline of one write
	pongWait      = 40 * time.Second // a client silent this long is gone
	pingEvery     = 15 * time.Second
	snapshotLimit = 2000 // incidents in a snapshot
	resumeLimit   = 5000 // deltas replayed on resume before "reload" instead
	statsEvery    = time.Second
)

// Gateway serves /ws. Create it with New and run Run.
type Gateway struct {
	store   *redisstore.Store
	origins []string
	log     *slog.Logger

	mu      sync.Mutex
	clients map[*client]struct{}
	pos     streamID // last stream id broadcast
	dirty   atomic.Bool

	upgrader websocket.Upgrader
	conns    prometheus.Gauge
	sent     prometheus.Counter
	dropped  prometheus.Counter
	closing  chan struct{}
}

// New returns a gateway. origins lists allowed Origin values besides the
// request's own host (e.g. "https://ioc.city.gov.cn").
func New(store *redisstore.Store, origins []string, reg prometheus.Registerer, log *slog.Logger) *Gateway {
	g := &Gateway{
		store: store, origins: origins, log: log, clients: map[*client]struct{}{}, closing: make(chan struct{}),
		conns:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "citybrain_ws_clients", Help: "Open websocket connections."}),
		sent:    prometheus.NewCounter(prometheus.CounterOpts{Name: "citybrain_ws_messages_sent_total", Help: "Messages queued to websocket clients."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "citybrain_ws_clients_dropped_total", Help: "Clients disconnected because they could not keep up."}),
	}
	reg.MustRegister(g.conns, g.sent, g.dropped)
	g.upgrader = websocket.Upgrader{
		ReadBufferSize: 1024, WriteBufferSize: 4096, Subprotocols: []string{Protocol},
		CheckOrigin: g.checkOrigin, HandshakeTimeout: 10 * time.Second,
	}
	return g
}

// checkOrigin allows requests without Origin (non-browser clients), the
// page's own host, and the configured origins.
func (g *Gateway) checkOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range g.origins {
		if strings.EqualFold(strings.TrimRight(a, "/"), o) {
			return true
		}
	}
	return false
}

// ServeHTTP upgrades an authenticated request to a websocket.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ticket string
	ok := false
	for _, p := range websocket.Subprotocols(r) {
		if p == Protocol {
			ok = true
		}
		if t, found := strings.CutPrefix(p, "ticket."); found {
			ticket = t
		}
	}
	if !ok || ticket == "" {
		http.Error(w, `{"error":"websocket needs subprotocols citybrain.v1 and ticket.<ticket> (POST /api/v1/auth/ws-ticket)"}`, http.StatusUnauthorized)
		return
	}
	if !g.checkOrigin(r) {
		http.Error(w, `{"error":"origin not allowed"}`, http.StatusForbidden)
		return
	}
	raw, err := g.store.TakeTicket(r.Context(), ticket)
	if err != nil {
		http.Error(w, `{"error":"ticket unknown, used or expired"}`, http.StatusUnauthorized)
		return
	}
	var claims auth.Claims
	if err := json.Unmarshal(raw, &claims); err != nil {
		http.Error(w, `{"error":"bad ticket"}`, http.StatusUnauthorized)
		return
	}
	conn, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	c := &client{g: g, conn: conn, claims: claims, send: make(chan []byte, sendQueue), done: make(chan struct{})}
	g.conns.Inc()
	go c.writeLoop()
	c.readLoop()
}

// Run tails the delta stream and broadcasts until ctx ends, then closes
// every connection with a "going away" close frame.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.closeAll()
	rdb := g.store.Client()
	stream := g.store.WallStream()
	last, err := rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	for err != nil {
		if ctx.Err() != nil {
			return nil
		}
		g.log.Warn("realtime: redis not ready", "err", err)
		time.Sleep(time.Second)
		last, err = rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	}
	g.mu.Lock()
	if len(last) > 0 {
		g.pos, _ = parseID(last[0].ID)
	}
	g.mu.Unlock()
	go g.statsLoop(ctx)
	for {
		g.mu.Lock()
		from := g.pos.String()
		g.mu.Unlock()
		res, err := rdb.XRead(ctx, &redis.XReadArgs{Streams: []string{stream, from}, Count: 1000, Block: time.Second}).Result()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, redis.Nil) {
			g.detectReset(ctx, stream)
			continue
		}
		if err != nil {
			g.log.Warn("realtime: stream read failed", "err", err)
			time.Sleep(500 * time.Millisecond)
			continue
		}
		for _, s := range res {
			for _, m := range s.Messages {
				g.broadcast(m)
			}
		}
	}
}

// detectReset notices a flushed Redis (the stream restarted below our
// position) and tells every client to reload.
func (g *Gateway) detectReset(ctx context.Context, stream string) {
	last, err := g.store.Client().XRevRangeN(ctx, stream, "+", "-", 1).Result()
	if err != nil {
		return
	}
	var top streamID
	if len(last) > 0 {
		top, _ = parseID(last[0].ID)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !top.less(g.pos) {
		return
	}
	g.pos = top
	msg := mustJSON(map[string]any{"type": "reload", "channel": "wall", "reason": "projections were rebuilt"})
	for c := range g.clients {
		c.queue(msg)
		c.subscribed = false
	}
}

func (g *Gateway) broadcast(m redis.XMessage) {
	id, ok := parseID(m.ID)
	if !ok {
		return
	}
	msg := deltaMessage(m)
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.pos.less(id) {
		return
	}
	g.pos = id
	g.dirty.Store(true)
	for c := range g.clients {
		if c.subscribed {
			c.queue(msg)
		}
	}
}

func deltaMessage(m redis.XMessage) []byte {
	data, _ := m.Values["data"].(string)
	kind, _ := m.Values["kind"].(string)
	if !utf8.ValidString(data) || !json.Valid([]byte(data)) {
		data = "null" // never relay invalid UTF-8 or broken JSON
	}
	return []byte(fmt.Sprintf(`{"type":"delta","channel":"wall","seq":%q,"kind":%q,"data":%s}`, m.ID, kind, data))
}

// statsLoop pushes the headline counters at most once a second, and only
// after something changed: KPI updates are coalesced for every client.
func (g *Gateway) statsLoop(ctx context.Context) {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !g.dirty.Swap(false) {
			continue
		}
		st, err := g.store.Stats(ctx, time.Now())
		if err != nil {
			continue
		}
		g.mu.Lock()
		msg := mustJSON(map[string]any{"type": "delta", "channel": "wall", "seq": g.pos.String(), "kind": "stats", "data": st})
		for c := range g.clients {
			if c.subscribed {
				c.queue(msg)
			}
		}
		g.mu.Unlock()
	}
}

// subscribe registers c for the wall channel. With since it replays what
// the client missed, or tells it to reload; without, it sends a snapshot.
func (g *Gateway) subscribe(ctx context.Context, c *client, since string) {
	if since != "" {
		if !g.resume(ctx, c, since) {
			c.queue(mustJSON(map[string]any{"type": "reload", "channel": "wall", "reason": "sequence no longer available"}))
		}
		return
	}
	// Snapshot: read it, then register and send what arrived meanwhile.
	g.mu.Lock()
	at := g.pos
	g.mu.Unlock()
	incs, _, err := g.store.Incidents(ctx, redisstore.Query{Limit: snapshotLimit})
	var st redisstore.Stats
	if err == nil {
		st, err = g.store.Stats(ctx, time.Now())
	}
	if err != nil {
		c.queue(mustJSON(map[string]any{"type": "error", "code": "unavailable", "message": "snapshot failed, subscribe again"}))
		return
	}
	c.queue(mustJSON(map[string]any{"type": "snapshot", "channel": "wall", "seq": at.String(),
		"data": map[string]any{"incidents": incs, "stats": st}}))
	g.mu.Lock()
	defer g.mu.Unlock()
	if at.less(g.pos) {
		missed, err := g.store.Client().XRange(ctx, g.store.WallStream(), "("+at.String(), g.pos.String()).Result()
		if err == nil {
			for _, m := range missed {
				c.queue(deltaMessage(m))
			}
		}
	}
	c.subscribed = true
	g.clients[c] = struct{}{}
}

// resume replays the deltas after since and registers c. It reports false
// when that is impossible: since is unknown, trimmed away, too far behind,
// or ahead of the stream (Redis was flushed and rebuilt). The broadcast
// lock is held while reading the gap so that no delta falls between.
func (g *Gateway) resume(ctx context.Context, c *client, since string) bool {
	sid, ok := parseID(since)
	if !ok {
		return false
	}
	rdb, stream := g.store.Client(), g.store.WallStream()
	first, err := rdb.XRangeN(ctx, stream, "-", "+", 1).Result()
	if err != nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pos.less(sid) {
		return false
	}
	if sid != g.pos {
		if len(first) == 0 {
			return false
		}
		if fid, _ := parseID(first[0].ID); sid.less(fid) {
			return false // entries after since may have been trimmed
		}
		missed, err := rdb.XRangeN(ctx, stream, "("+since, g.pos.String(), resumeLimit+1).Result()
		if err != nil || len(missed) > resumeLimit {
			return false
		}
		for _, m := range missed {
			c.queue(deltaMessage(m))
		}
	}
	c.subscribed = true
	g.clients[c] = struct{}{}
	return true
}

func (g *Gateway) remove(c *client) {
	g.mu.Lock()
	if _, ok := g.clients[c]; ok {
		delete(g.clients, c)
	}
	g.mu.Unlock()
}

func (g *Gateway) closeAll() {
	close(g.closing)
	g.mu.Lock()
	defer g.mu.Unlock()
	for c := range g.clients {
		c.close()
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return []byte(`{"type":"error","code":"internal","message":"encode failed"}`)
	}
	return b
}
