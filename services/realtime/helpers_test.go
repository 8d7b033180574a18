package realtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// These tests run the gateway on an httptest server against a real Redis
// protocol server (miniredis in make test, Redis with TEST_REDIS_ADDR), each
// test with its own key prefix, and drive it with gorilla clients.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newStore returns a built store under a fresh prefix on the test's Redis.
func newStore(t *testing.T) *redisstore.Store {
	t.Helper()
	return testenv.Store(t)
}

type env struct {
	t     *testing.T
	store *redisstore.Store
	g     *Gateway
	reg   *prometheus.Registry
	srv   *httptest.Server
	url   string
	stop  func() // cancels Run and waits for it
}

// newEnv starts a gateway on store (a new one when nil); tune adjusts its
// limits before it runs.
func newEnv(t *testing.T, store *redisstore.Store, tune func(*Gateway)) *env {
	t.Helper()
	if store == nil {
		store = newStore(t)
	}
	reg := prometheus.NewRegistry()
	g := New(store, []string{"https://wall.city.example"}, reg, slog.New(slog.DiscardHandler))
	g.block = 50 * time.Millisecond
	g.shutdownWait = 2 * time.Second
	if tune != nil {
		tune(g)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	srv := httptest.NewServer(g)
	e := &env{t: t, store: store, g: g, reg: reg, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http")}
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return 5 s after its context ended")
		}
	}
	t.Cleanup(func() {
		e.stop()
		srv.Close()
	})
	select {
	case <-g.ready:
	case <-time.After(5 * time.Second):
		t.Fatal("gateway not ready")
	}
	return e
}

// caughtUp waits until the gateway has broadcast the whole stream.
func (e *env) caughtUp() {
	e.t.Helper()
	last, err := e.store.Client().XRevRangeN(context.Background(), e.store.WallStream(), "+", "-", 1).Result()
	if err != nil || len(last) == 0 {
		e.t.Fatalf("stream top: %v", err)
	}
	top, _ := parseID(last[0].ID)
	waitFor(e.t, 5*time.Second, "the gateway to catch up", func() bool {
		e.g.mu.Lock()
		defer e.g.mu.Unlock()
		return !e.g.pos.less(top)
	})
}

func (e *env) ticket(c auth.Claims) string {
	e.t.Helper()
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	tk := hex.EncodeToString(b)
	raw, _ := json.Marshal(c)
	if err := e.store.PutTicket(context.Background(), tk, raw, 30*time.Second); err != nil {
		e.t.Fatal(err)
	}
	return tk
}

func (e *env) dialWith(protocols []string, h http.Header, d *websocket.Dialer) (*websocket.Conn, *http.Response, error) {
	if d == nil {
		d = &websocket.Dialer{}
	}
	d.Subprotocols = protocols
	d.HandshakeTimeout = 5 * time.Second
	ws, resp, err := d.Dial(e.url, h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if ws != nil {
		e.t.Cleanup(func() { _ = ws.Close() })
	}
	return ws, resp, err
}

// dial connects as c (no subscription yet).
func (e *env) dial(c auth.Claims) *websocket.Conn {
	e.t.Helper()
	ws, resp, err := e.dialWith([]string{Protocol, "ticket." + e.ticket(c)}, nil, nil)
	if err != nil {
		e.t.Fatalf("dial as %s: %v (%v)", c.Role, err, status(resp))
	}
	return ws
}

func status(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

var (
	viewerClaims = auth.Claims{Subject: "wall", Role: auth.Viewer}
	adminClaims  = auth.Claims{Subject: "admin", Role: auth.Admin}
)

func subscribe(t *testing.T, ws *websocket.Conn, ch, since string) {
	t.Helper()
	req := map[string]string{"op": "subscribe", "channel": ch}
	if since != "" {
		req["since"] = since
	}
	if err := ws.WriteJSON(req); err != nil {
		t.Fatal(err)
	}
}

// msg is a server message.
type msg struct {
	Type    string          `json:"type"`
	Channel string          `json:"channel"`
	Seq     string          `json:"seq"`
	Kind    string          `json:"kind"`
	Data    json.RawMessage `json:"data"`
	Code    string          `json:"code"`
	Reason  string          `json:"reason"`
	raw     []byte
}

type incData struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	Title   string `json:"title"`
	Place   struct {
		Town struct{ Code string } `json:"town"`
		Grid struct{ Code string } `json:"grid"`
	} `json:"place"`
	Task *struct {
		WorkerID string `json:"worker_id"`
	} `json:"task"`
}

func (d incData) worker() string {
	if d.Task == nil {
		return ""
	}
	return d.Task.WorkerID
}

func (m msg) inc(t *testing.T) incData {
	t.Helper()
	var d incData
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("data of %s: %v", m.raw, err)
	}
	return d
}

func (m msg) snapshotIDs(t *testing.T) []string {
	t.Helper()
	var d struct {
		Incidents []incData `json:"incidents"`
	}
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("snapshot %s: %v", m.raw, err)
	}
	ids := make([]string, 0, len(d.Incidents))
	for _, i := range d.Incidents {
		ids = append(ids, i.ID)
	}
	return ids
}

// read returns the next message; every message must be valid UTF-8 JSON.
func read(t *testing.T, ws *websocket.Conn) msg {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !utf8.Valid(b) {
		t.Fatalf("invalid UTF-8 relayed: %q", b)
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %q: %v", b, err)
	}
	m.raw = b
	return m
}

// next returns the next message that is not a stats delta.
func next(t *testing.T, ws *websocket.Conn) msg {
	t.Helper()
	for {
		if m := read(t, ws); m.Kind != "stats" {
			return m
		}
	}
}

// until reads incident deltas until one for the incident stop arrives and
// returns the others as "id" or "id:remove".
func until(t *testing.T, ws *websocket.Conn, stop string) []string {
	t.Helper()
	var got []string
	for {
		m := next(t, ws)
		if m.Type != "delta" {
			t.Fatalf("unexpected %s", m.raw)
		}
		d := m.inc(t)
		if d.ID == stop {
			return got
		}
		if m.Kind == "remove" {
			got = append(got, d.ID+":remove")
		} else {
			got = append(got, d.ID)
		}
	}
}

// apply projects one version of an incident in s, as the projector does.
func apply(t *testing.T, store *redisstore.Store, id string, v int, s scope, state event.State, title string) {
	t.Helper()
	now := time.Now().UTC()
	inc := event.Incident{ID: id, Version: v, State: state, Source: event.Hotline, Title: title, UpdatedAt: now,
		Place: gis.Place{Town: gis.Unit{Code: s.town}, Grid: gis.Unit{Code: s.grid}}}
	if s.worker != "" {
		inc.Task = &event.TaskRef{ID: "T-" + id, State: state, WorkerID: s.worker}
	}
	lc := event.Lifecycle{Schema: event.Schema, ID: fmt.Sprintf("%s/%d", id, v), IncidentID: id, Version: v, To: state, At: now, Incident: inc}
	if ok, err := store.Apply(context.Background(), lc); err != nil || !ok {
		t.Fatalf("apply %s v%d: %v %v", id, v, ok, err)
	}
}

func seqOf(t *testing.T, s string) streamID {
	t.Helper()
	id, ok := parseID(s)
	if !ok {
		t.Fatalf("seq %q", s)
	}
	return id
}

// counter reads a counter or gauge.
func counter(c prometheus.Metric) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue() + m.GetGauge().GetValue()
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// smallReadDialer dials with a tiny kernel receive buffer, so a client that
// does not read fills up fast.
func smallReadDialer() *websocket.Dialer {
	return &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			_ = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
}
