package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/kpi"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// Protocol is the websocket subprotocol name.
const Protocol = "citybrain.v1"

// Fixed limits of the protocol (docs/realtime-protocol.md).
const (
	readLimit     = 4096     // bytes per client message
	msgRate       = 5        // client messages per second, sustained …
	msgBurst      = 20       // … after a burst of this many
	minWriteRate  = 32 << 10 // bytes per second a client must take a large message at
	snapshotLimit = 5000     // open incidents in the wall's snapshot, and those a scoped one is filtered from
	snapshotTTL   = time.Second
	statsEvery    = time.Second
	maxPrev       = 200_000 // open incidents whose scope is remembered (for "remove")
)

var (
	errClosed = errors.New("connection closed")
	errNoID   = errors.New("incident without id")
	// errRestoring: the projections are being rebuilt from Kafka, so a
	// snapshot would be partial. The client is told so (error "restoring")
	// and connects again later: its ticket is then refused with the
	// rebuild's progress until the rebuild ends.
	errRestoring = errors.New("the projections are being rebuilt")
)

// Gateway serves /ws. Create it with New, mount it on a net/http mux and
// run Run. It is safe for concurrent use.
type Gateway struct {
	store    *redisstore.Store
	origins  []string
	log      *slog.Logger
	upgrader websocket.Upgrader
	metrics  metrics

	// Tunables: the defaults are set by New; tests shrink them.
	queueLimit    int           // messages queued per client before it is dropped
	ringSize      int           // recent deltas kept for resume (also the most a resume replays)
	ringBytes     int           // … and at most this many bytes of them
	writeWait     time.Duration // deadline of one write (plus size/minWriteRate)
	pingEvery     time.Duration
	pongWait      time.Duration // a client silent this long is gone
	block         time.Duration // XREAD block; also bounds how long Run takes to notice ctx
	batchMin      time.Duration // least time between two stream reads when little is going on …
	batchMax      time.Duration // … and under load: deltas are fanned out in batches
	busyBatch     int           // messages queued by one round that count as load
	sndBuf        int           // kernel send buffer per connection (bytes; 0 = system default)
	accountsEvery time.Duration // how often the published accounts are looked at (accounts.go)
	shutdownWait  time.Duration // how long Run waits for close frames to be written

	mu      sync.Mutex
	pos     streamID         // the last stream entry broadcast
	ring    ring             // the entries up to pos, for resume
	prev    map[string]scope // the last scope of each open incident seen, for "remove"
	gen     uint64           // bumps when the projections were reset
	closing bool
	conns   map[*client]struct{}
	idx     index

	dirty       atomic.Bool    // an incident changed since the last stats push
	wasBuilt    bool           // statsLoop only
	readers     sync.WaitGroup // a reader ends after its connection's writer has closed it
	wallSnap    snapCache
	openSnap    snapCache
	lastStats   atomic.Pointer[string]            // the latest stats JSON, for snapshots
	ready       chan struct{}                     // closed when Run has positioned itself on the stream
	wakeBatch   []*client                         // hub goroutine only
	pos2        *positions                        // worker positions (positions.go)
	lastMode    atomic.Pointer[string]            // the wall's mode JSON, for snapshots
	kpi         kpiCache                          // the KPIs of the stats (stats.go)
	accounts    atomic.Pointer[map[string]string] // the accounts published last (accounts.go)
	accountsSum string                            // their sum; statsLoop only

	// workerTask is each worker's current task (of an open incident), for
	// the task_id of positions. Guarded by mu.
	workerTask map[string]string
}

type metrics struct {
	conns     prometheus.Gauge
	sent      prometheus.Counter
	dropped   prometheus.Counter
	coalesced prometheus.Counter
	deltas    prometheus.Counter
	problems  *prometheus.CounterVec
	lag       prometheus.Histogram
}

// New returns a gateway on store. origins lists allowed Origin values
// besides the request's own host (e.g. "https://ioc.city.gov.cn").
func New(store *redisstore.Store, origins []string, reg prometheus.Registerer, log *slog.Logger) *Gateway {
	g := &Gateway{
		store: store, origins: origins, log: log,
		queueLimit: 4096, ringSize: 5000, ringBytes: 64 << 20,
		writeWait: 5 * time.Second, pingEvery: 15 * time.Second, pongWait: 40 * time.Second,
		block: time.Second, batchMin: 2 * time.Millisecond, batchMax: 40 * time.Millisecond, busyBatch: 1000,
		sndBuf: 64 << 10, shutdownWait: 3 * time.Second, accountsEvery: accountsEvery,
		conns: map[*client]struct{}{}, prev: map[string]scope{}, workerTask: map[string]string{}, idx: newIndex(), pos2: newPositions(),
	}
	// Snapshots hold the open incidents, the newest first: on the wall an
	// open incident or an active warning that has not changed for a while
	// must not drop out behind a busy hour's closed ones.
	g.kpi.cases = kpi.NewCaseCache(store)
	g.openSnap.open = true
	g.wallSnap.open, g.wallSnap.wall = true, true
	g.ready = make(chan struct{})
	g.metrics = metrics{
		conns:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "citybrain_ws_clients", Help: "Open websocket connections."}),
		sent:      prometheus.NewCounter(prometheus.CounterOpts{Name: "citybrain_ws_messages_sent_total", Help: "Messages queued to websocket clients."}),
		dropped:   prometheus.NewCounter(prometheus.CounterOpts{Name: "citybrain_ws_clients_dropped_total", Help: "Clients disconnected because they could not keep up."}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{Name: "citybrain_ws_messages_coalesced_total", Help: "Queued messages replaced by a newer state of the same incident before they were written."}),
		deltas:    prometheus.NewCounter(prometheus.CounterOpts{Name: "citybrain_ws_deltas_total", Help: "Entries of the delta stream fanned out."}),
		problems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citybrain_ws_stream_problems_total",
			Help: "Bad entries in the delta stream: invalid_utf8 (repaired with U+FFFD and relayed); bad_json, unknown_kind, bad_id (not relayed).",
		}, []string{"problem"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "citybrain_ws_delivery_lag_seconds", Help: "From a delta's commit to the stream (its id) to the end of its write to a client; one sample per write.",
			Buckets: []float64{.005, .01, .025, .05, .075, .1, .15, .2, .25, .5, 1, 2.5, 5, 10},
		}),
	}
	reg.MustRegister(g.metrics.conns, g.metrics.sent, g.metrics.dropped, g.metrics.coalesced, g.metrics.deltas, g.metrics.problems, g.metrics.lag)
	g.upgrader = websocket.Upgrader{
		// 512 bytes of read buffer is plenty for client messages (≤ 4 KiB,
		// read through it); the write side never uses gorilla's buffer (see
		// client), and a pool keeps gorilla from allocating one.
		ReadBufferSize: 512, WriteBufferPool: &sync.Pool{}, Subprotocols: []string{Protocol},
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

func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(mustJSON(map[string]string{"error": msg}))
}

// Admit authenticates a websocket request exactly as /ws does (protocol
// citybrain.v1 and a one-time ticket in Sec-WebSocket-Protocol, the Origin
// check, refusal while shutting down). check, when not nil, runs after the
// credentials are present and before the ticket is taken: it answers its own
// refusal (e.g. a bad query) and reports false. On failure Admit has
// answered the request (JSON {"error"}) and returns false; on success the
// caller upgrades with an Upgrader that accepts Protocol and CheckOrigin.
func (g *Gateway) Admit(w http.ResponseWriter, r *http.Request, check func(http.ResponseWriter, *http.Request) bool) (auth.Claims, bool) {
	var claims auth.Claims
	if !websocket.IsWebSocketUpgrade(r) {
		refuse(w, http.StatusBadRequest, "this is a websocket endpoint (protocol citybrain.v1)")
		return claims, false
	}
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
		refuse(w, http.StatusUnauthorized, "websocket needs subprotocols citybrain.v1 and ticket.<ticket> (POST /api/v1/auth/ws-ticket)")
		return claims, false
	}
	if !g.checkOrigin(r) {
		refuse(w, http.StatusForbidden, "origin not allowed")
		return claims, false
	}
	g.mu.Lock()
	closing := g.closing
	g.mu.Unlock()
	if closing {
		refuse(w, http.StatusServiceUnavailable, "shutting down: connect again")
		return claims, false
	}
	if check != nil && !check(w, r) {
		return claims, false
	}
	raw, err := g.store.TakeTicket(r.Context(), ticket)
	if errors.Is(err, redisstore.ErrNotFound) {
		refuse(w, http.StatusUnauthorized, "ticket unknown, used or expired")
		return claims, false
	}
	if err != nil {
		refuse(w, http.StatusServiceUnavailable, "cannot check the ticket now: try again")
		return claims, false
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.Role == "" {
		refuse(w, http.StatusUnauthorized, "bad ticket")
		return claims, false
	}
	if !g.accountValid(viewerOf(claims)) {
		refuse(w, http.StatusUnauthorized, accountGone)
		return claims, false
	}
	return claims, true
}

// CheckOrigin is the Origin rule of /ws, for other websocket endpoints.
func (g *Gateway) CheckOrigin(r *http.Request) bool { return g.checkOrigin(r) }

// Refuse answers an HTTP refusal with a JSON {"error"} body.
func Refuse(w http.ResponseWriter, status int, msg string) { refuse(w, status, msg) }

// ServeHTTP upgrades an authenticated request to a websocket. Every refusal
// is an HTTP answer before the upgrade, and none of them uses up the ticket
// except a failed upgrade itself.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	claims, ok := g.Admit(w, r, nil)
	if !ok {
		return
	}
	conn, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	nc := conn.NetConn()
	if tc, ok := nc.(*net.TCPConn); ok && g.sndBuf > 0 {
		// A bounded kernel buffer: a client that stops reading fills it
		// soon and is dropped in bounded time, and pins at most this much
		// kernel memory.
		_ = tc.SetWriteBuffer(g.sndBuf)
	}
	c := &client{
		g: g, conn: conn, nc: nc,
		viewer:   viewerOf(claims),
		finished: make(chan struct{}), readDone: make(chan struct{}),
	}
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write(closeFrame(websocket.CloseGoingAway, "server shutting down"))
		_ = nc.Close()
		return
	}
	g.conns[c] = struct{}{}
	c.liveNode = true
	g.readers.Add(1)
	c.ping = time.AfterFunc(g.pingEvery, c.sendPing)
	g.mu.Unlock()
	g.metrics.conns.Inc()
	// The reader gets a goroutine of its own so that this one, with the
	// HTTP server's larger stack and buffers, ends now.
	go func() {
		defer g.readers.Done()
		c.readLoop()
	}()
}

// Run tails the delta stream and broadcasts until ctx ends, then closes
// every connection with close code 1001 (going away) and waits a bounded
// time for those frames to be written.
func (g *Gateway) Run(ctx context.Context) error {
	defer g.closeAll()
	if !g.start(ctx) || !g.startPositions(ctx) {
		return nil
	}
	close(g.ready)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.statsLoop(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.positionsLoop(ctx)
	}()
	stream := g.store.WallStream()
	for ctx.Err() == nil {
		g.mu.Lock()
		from := g.pos.String()
		g.mu.Unlock()
		t0 := time.Now()
		written := g.store.WallWritten()
		msgs, err := g.store.ReadAfter(ctx, stream, from, 1000, g.readBlock(written))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			g.log.Warn("realtime: stream read failed", "err", err)
			sleep(ctx, 500*time.Millisecond)
			continue
		}
		if len(msgs) == 0 {
			g.awaitWrite(ctx, written)
			continue
		}
		queued := g.broadcast(msgs)
		// Let deltas gather before the next read: a client then gets
		// several in one write, and the write (a syscall, and the kernel's
		// TCP work) is most of the cost of a delivery. When little is going
		// on, a delta goes out at once; under load, up to batchMax later.
		wait := g.batchMin
		if written != nil {
			wait = max(wait, localBatchMin)
		}
		if queued >= g.busyBatch {
			wait = g.batchMax
		}
		sleep(ctx, wait-time.Since(t0))
	}
	return nil
}

// localBatchMin is the least time between two reads of the delta stream on
// a store that signals its writes (the embedded Redis, where every read
// scans the stream): a little more latency for much less CPU under load.
const localBatchMin = 10 * time.Millisecond

// readBlock is the BLOCK of a stream read: none when the store signals its
// writes (written is not nil; see redisstore.Store.WithLocalWakeups).
func (g *Gateway) readBlock(written <-chan struct{}) time.Duration {
	if written != nil {
		return -1 // go-redis: no BLOCK argument
	}
	return g.block
}

// awaitWrite waits, after a read that found nothing on a store that
// signals its writes, for the next write (or g.block, or the end of ctx).
func (g *Gateway) awaitWrite(ctx context.Context, written <-chan struct{}) {
	if written == nil {
		return // the read blocked already
	}
	t := time.NewTimer(g.block)
	defer t.Stop()
	select {
	case <-written:
	case <-t.C:
	case <-ctx.Done():
	}
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// start positions the gateway at the end of the stream and fills the
// resume buffer with the entries before it (so clients can resume on an
// instance that just started), waiting for Redis if need be. It reports
// false when ctx ended first.
func (g *Gateway) start(ctx context.Context) bool {
	rdb, stream := g.store.Client(), g.store.WallStream()
	g.mu.Lock()
	g.ring.maxN, g.ring.maxBytes = g.ringSize, g.ringBytes
	g.mu.Unlock()
	for {
		last, err := rdb.XRevRangeN(ctx, stream, "+", "-", int64(g.ringSize)).Result()
		if err == nil {
			entries := make([]*entry, 0, len(last))
			for i := len(last) - 1; i >= 0; i-- {
				if e := g.newEntry(last[i]); e != nil {
					entries = append(entries, e)
				}
			}
			g.mu.Lock()
			for _, e := range entries {
				if g.pos.less(e.seq) {
					g.pos = e.seq
					g.trackLocked(e)
					g.ring.push(e)
				}
			}
			g.mu.Unlock()
			g.wasBuilt, _ = g.store.Built(ctx)
			g.seedPrev(ctx)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		g.log.Warn("realtime: redis not ready", "err", err)
		sleep(ctx, time.Second)
	}
}

// seedPrev remembers the scope of the open incidents, so that the first
// change of one after start-up can still tell a worker it lost the task.
func (g *Gateway) seedPrev(ctx context.Context) {
	snap, err := g.openSnap.get(ctx, g, true)
	if err != nil {
		return // best effort
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, inc := range snap.incs {
		if len(g.prev) >= maxPrev {
			break
		}
		if _, ok := g.prev[inc.id]; !ok {
			g.prev[inc.id] = inc.scope
			if inc.scope.worker != "" && inc.task != "" {
				g.workerTask[inc.scope.worker] = inc.task
			}
		}
	}
}

// statsLoop pushes the headline counters at most once a second, and only
// after something changed: KPI updates are coalesced for every client. It
// also notices a flushed Redis and tells every client to reload.
func (g *Gateway) statsLoop(ctx context.Context) {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	var accountsAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.detectReset(ctx)
		if now := time.Now(); now.Sub(accountsAt) >= g.accountsEvery {
			accountsAt = now
			g.refreshAccounts(ctx)
		}
		if !g.dirty.Swap(false) {
			continue
		}
		data, err := g.statsJSON(ctx, time.Now())
		if err != nil {
			continue
		}
		g.lastStats.Store(&data)
		var wake []*client
		g.mu.Lock()
		f := (&frame{b: deltaFrame(chWall, g.pos.String(), "stats", data), ch: chWall, seq: g.pos}).keyed("stats")
		for c := range g.idx.wall {
			if c.push(f) {
				wake = append(wake, c)
			}
		}
		g.mu.Unlock()
		for _, c := range wake {
			c.startWriter()
		}
	}
}

// detectReset notices that the projections were flushed (the stream now
// ends below our position, or the store's "built" mark went away) and
// tells every subscriber to reload.
func (g *Gateway) detectReset(ctx context.Context) {
	g.mu.Lock()
	at := g.pos
	g.mu.Unlock()
	last, err := g.store.Client().XRevRangeN(ctx, g.store.WallStream(), "+", "-", 1).Result()
	if err != nil {
		return
	}
	built, err := g.store.Built(ctx)
	if err != nil {
		return
	}
	var top streamID
	if len(last) > 0 {
		top, _ = parseID(last[0].ID)
	}
	unbuilt := g.wasBuilt && !built
	g.wasBuilt = built
	if !top.less(at) && !unbuilt {
		return
	}
	g.log.Info("realtime: projections were reset; clients reload", "stream_top", top.String(), "position", at.String())
	var wake []*client
	g.mu.Lock()
	if top.less(g.pos) {
		g.pos = top
	}
	g.ring.clear()
	clear(g.prev)
	clear(g.workerTask)
	g.gen++
	for c := range g.conns {
		for ch := range numChannels {
			if c.subs[ch] {
				g.idx.remove(c, ch)
				c.subs[ch] = false
				if c.push(reloadFrame(ch, "projections were rebuilt")) {
					wake = append(wake, c)
				}
			}
		}
		c.nsubs = 0
	}
	g.mu.Unlock()
	g.wallSnap.invalidate()
	g.openSnap.invalidate()
	for _, c := range wake {
		c.startWriter()
	}
}

// remove forgets a connection that ended.
func (g *Gateway) remove(c *client) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for ch := range numChannels {
		if c.subs[ch] {
			g.idx.remove(c, ch)
			c.subs[ch] = false
		}
	}
	c.nsubs = 0
	delete(g.conns, c)
	c.liveNode = false
}

// closeAll closes every connection with 1001 and waits up to shutdownWait
// for the writers and readers to finish.
func (g *Gateway) closeAll() {
	g.mu.Lock()
	g.closing = true
	for c := range g.conns {
		c.close(websocket.CloseGoingAway, "server shutting down")
	}
	g.mu.Unlock()
	done := make(chan struct{})
	go func() {
		g.readers.Wait()
		close(done)
	}()
	t := time.NewTimer(g.shutdownWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		g.log.Warn("realtime: connections still closing at the shutdown deadline")
	}
}
