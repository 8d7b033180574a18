package realtime

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/citybrain-ioc/citybrain/services/auth"
)

// Frames are written raw to the connection; a gorilla client must read
// them as the messages they are, at every header size.
func TestRawFramesReadByGorilla(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 300_000}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		var frames [][]byte
		for _, n := range sizes {
			frames = append(frames, textFrame(bytes.Repeat([]byte("界"), n/3+1)[:n/3*3]))
		}
		frames = append(frames, pingFrame, closeFrame(websocket.CloseGoingAway, "server shutting down"))
		for _, f := range frames {
			if _, err := conn.NetConn().Write(f); err != nil {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}))
	defer srv.Close()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.Close() }()
	for _, n := range sizes {
		typ, b, err := ws.ReadMessage()
		if err != nil || typ != websocket.TextMessage || len(b) != n/3*3 {
			t.Fatalf("message of %d bytes: type %d, %d bytes, %v", n/3*3, typ, len(b), err)
		}
	}
	_, _, err = ws.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.CloseGoingAway || ce.Text != "server shutting down" {
		t.Fatalf("close: %v", err)
	}
}

func testGateway(t *testing.T) *Gateway {
	t.Helper()
	g := New(nil, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	g.queueLimit = 1 << 20
	return g
}

func testClient(g *Gateway, v viewer) *client {
	return &client{g: g, viewer: v, finished: make(chan struct{}), readDone: make(chan struct{})}
}

func keysOf(q []*frame) string {
	var s []string
	for _, f := range q {
		s = append(s, fmt.Sprintf("%s/%s@%d", f.ch, f.key, f.seq.seq))
	}
	return strings.Join(s, " ")
}

func TestQueueCoalescesNewerStatesOfAnIncident(t *testing.T) {
	g := testGateway(t)
	c := testClient(g, viewer{role: auth.Admin})
	d := func(ch channel, key string, seq uint64) *frame {
		return (&frame{b: []byte("x"), ch: ch, seq: streamID{1, seq}}).keyed(key)
	}
	if !c.push(d(chWall, "A", 1)) {
		t.Fatal("the first message must start the writer")
	}
	c.push(d(chWall, "B", 2))
	c.push(d(chDispatcher, "A", 3)) // another channel: its own state
	c.push(&frame{b: []byte("snapshot"), ch: chWall})
	c.push(d(chWall, "A", 4))
	c.push(d(chWall, "stats", 5))
	c.push(d(chWall, "stats", 6))
	want := "wall/B@2 dispatcher/A@3 wall/@0 wall/A@4 wall/stats@6"
	if got := keysOf(c.q); got != want {
		t.Fatalf("queue %s, want %s", got, want)
	}
	if n := counter(g.metrics.coalesced); n != 2 {
		t.Fatalf("coalesced %v", n)
	}
	// Only the newest coalesceWindow are looked at: an older one stays.
	c.q = nil
	c.push(d(chWall, "OLD", 1))
	for i := range coalesceWindow {
		c.push(d(chWall, fmt.Sprint(i), uint64(i+2)))
	}
	c.push(d(chWall, "OLD", 100))
	if len(c.q) != coalesceWindow+2 {
		t.Fatalf("queue length %d", len(c.q))
	}
}

// fanoutLocked finds subscribers through indexes; viewer.sees is the rule.
// For random subscribers and incidents they must agree exactly, including
// the "remove" sent to those who saw the previous state only.
func TestFanoutMatchesTheScopeRule(t *testing.T) {
	g := testGateway(t)
	rng := rand.New(rand.NewPCG(1, 2))
	towns, grids, workers := []string{"", "T1", "T2"}, []string{"", "G1", "G2", "G3"}, []string{"", "w1", "w2", "w3"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	roles := []string{auth.Viewer, auth.Dispatcher, auth.Worker, auth.Admin}
	var clients []*client
	for range 200 {
		v := viewer{role: roles[rng.IntN(len(roles))], subject: pick(workers)}
		switch v.role {
		case auth.Dispatcher, auth.Admin:
			v.scope = pick(towns)
		case auth.Worker:
			v.scope = pick(grids)
		}
		c := testClient(g, v)
		for ch := range numChannels {
			if allowed(v.role, ch) && rng.IntN(2) == 0 {
				g.subscribeLocked(c, ch)
			}
		}
		clients = append(clients, c)
	}
	for i := range 2000 {
		e := &entry{seq: streamID{uint64(i + 1), 0}, kind: "incident", data: "{}", ok: true,
			meta: incMeta{id: fmt.Sprint("I", i), scope: scope{pick(towns), pick(grids), pick(workers)}}}
		if rng.IntN(2) == 0 {
			e.prev, e.hasP = scope{pick(towns), pick(grids), pick(workers)}, true
		}
		g.fanoutLocked(e, nil)
		for _, c := range clients {
			var want []*frame
			for ch := range numChannels {
				switch {
				case !c.subs[ch]:
				case c.viewer.sees(ch, e.meta.scope):
					want = append(want, e.frame(ch))
				case ch != chWall && e.hasP && c.viewer.sees(ch, e.prev):
					want = append(want, e.remove(ch))
				}
			}
			slices.SortFunc(want, func(a, b *frame) int { return int(a.ch) - int(b.ch) })
			got := slices.Clone(c.q)
			slices.SortFunc(got, func(a, b *frame) int { return int(a.ch) - int(b.ch) })
			if !slices.Equal(got, want) {
				t.Fatalf("incident %+v (prev %+v %v) to %+v subscribed %v: got %s, want %s",
					e.meta.scope, e.prev, e.hasP, c.viewer, c.subs, keysOf(got), keysOf(want))
			}
			c.q = nil
		}
	}
}

func TestScopeRule(t *testing.T) {
	a := viewer{subject: "wA", role: auth.Worker, scope: "G1"}
	noScope := viewer{subject: "wB", role: auth.Worker}
	for _, tc := range []struct {
		v    viewer
		s    scope
		want bool
	}{
		{a, scope{grid: "G1"}, true},                // unassigned in my grid
		{a, scope{grid: "G1", worker: "wB"}, false}, // another worker's task in my grid
		{a, scope{grid: "G9", worker: "wA"}, true},  // my task elsewhere
		{a, scope{grid: "G2"}, false},               // another grid
		{noScope, scope{}, false},                   // no grid, no scope: nothing
		{viewer{role: auth.Worker}, scope{}, false}, // no subject matches no worker
		{viewer{role: auth.Worker, scope: "G1"}, scope{grid: "G1", worker: ""}, true},
	} {
		if got := tc.v.sees(chWorker, tc.s); got != tc.want {
			t.Errorf("%+v sees %+v on worker: %v, want %v", tc.v, tc.s, got, tc.want)
		}
	}
	d := viewer{role: auth.Dispatcher, scope: "T1"}
	if !d.sees(chDispatcher, scope{town: "T1"}) || d.sees(chDispatcher, scope{town: "T2"}) || d.sees(chDispatcher, scope{}) {
		t.Error("a town dispatcher sees exactly the town")
	}
	if all := (viewer{role: auth.Dispatcher}); !all.sees(chDispatcher, scope{town: "T2"}) || !all.sees(chDispatcher, scope{}) {
		t.Error("an unscoped dispatcher sees the city")
	}
}
