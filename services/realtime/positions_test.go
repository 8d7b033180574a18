package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

type posData struct {
	Workers []struct {
		ID     string  `json:"id"`
		Name   string  `json:"name"`
		Lon    float64 `json:"lon"`
		Lat    float64 `json:"lat"`
		OnDuty bool    `json:"on_duty"`
		TaskID string  `json:"task_id"`
	} `json:"workers"`
	Removed []string `json:"removed"`
	Full    bool     `json:"full"`
}

func (d posData) ids() string {
	var s []string
	for _, w := range d.Workers {
		s = append(s, w.ID)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

func putPos(t *testing.T, s *redisstore.Store, id, town string, lon float64, onDuty bool) {
	t.Helper()
	w := redisstore.WorkerPos{ID: id, Name: "网格员 " + id, Department: "城市管理局", Town: town, Lon: lon, Lat: 32.4, OnDuty: onDuty, At: time.Now().UTC()}
	if err := s.PutWorker(context.Background(), w); err != nil {
		t.Fatal(err)
	}
}

// nextPositions reads until a positions delta arrives.
func nextPositions(t *testing.T, ws *websocket.Conn) (msg, posData) {
	t.Helper()
	for {
		m := next(t, ws)
		if m.Kind != "positions" {
			continue
		}
		var d posData
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("positions %s: %v", m.raw, err)
		}
		return m, d
	}
}

// noPositions checks that no positions delta arrives within d.
func noPositions(t *testing.T, ws *websocket.Conn, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		_ = ws.SetReadDeadline(deadline)
		_, b, err := ws.ReadMessage()
		if err != nil {
			return // the deadline: nothing came
		}
		if strings.Contains(string(b), `"kind":"positions"`) {
			t.Fatalf("unexpected positions: %s", b)
		}
	}
}

func TestPositionsSnapshotScopeAndCoalescing(t *testing.T) {
	store := newStore(t)
	const t1, t2 = "321204001000", "321204002000"
	putPos(t, store, "gw-a", t1, 119.90, true)
	putPos(t, store, "gw-b", t2, 119.95, true)
	putPos(t, store, "gw-off", t1, 119.91, false)
	// gw-a has a task: positions carry its id.
	apply(t, store, "P1", 1, scope{t1, "g1", "gw-a"}, event.Dispatched, "")
	e := newEnv(t, store, nil)
	e.caughtUp()

	wall := e.dial(viewerClaims)
	subscribe(t, wall, "wall", "")
	snap := next(t, wall)
	var sd struct {
		W []struct {
			ID string `json:"id"`
		} `json:"workers"`
	}
	if err := json.Unmarshal(snap.Data, &sd); err != nil || snap.Type != "snapshot" || len(sd.W) != 2 {
		t.Fatalf("wall snapshot workers: %s", snap.raw)
	}
	_, full := nextPositions(t, wall)
	if !full.Full || full.ids() != "gw-a,gw-b" {
		t.Fatalf("wall full positions: %+v", full)
	}
	for _, w := range full.Workers {
		if w.ID == "gw-a" && w.TaskID != "T-P1" {
			t.Errorf("gw-a task_id %q, want T-P1", w.TaskID)
		}
	}

	d1 := e.dial(auth.Claims{Subject: "d1", Role: auth.Dispatcher, Scope: t1})
	subscribe(t, d1, "dispatcher", "")
	if m := next(t, d1); m.Type != "snapshot" || !strings.Contains(string(m.Data), `"workers":[{"id":"gw-a"`) || strings.Contains(string(m.Data), "gw-b") {
		t.Fatalf("dispatcher snapshot: %s", m.raw)
	}
	if _, d := nextPositions(t, d1); !d.Full || d.ids() != "gw-a" {
		t.Fatalf("dispatcher t1 full positions: %+v", d)
	}
	d2 := e.dial(auth.Claims{Subject: "d2", Role: auth.Dispatcher, Scope: t2})
	subscribe(t, d2, "dispatcher", "")
	if _, d := nextPositions(t, d2); d.ids() != "gw-b" {
		t.Fatalf("dispatcher t2 full positions: %+v", d)
	}
	wk := e.dial(auth.Claims{Subject: "gw-a", Role: auth.Worker, Scope: "g1"})
	subscribe(t, wk, "worker", "")
	if m := next(t, wk); m.Type != "snapshot" || strings.Contains(string(m.raw), "workers") {
		t.Fatalf("worker snapshot carries positions: %s", m.raw)
	}

	// Coalescing: five steps of gw-a inside one interval are one message
	// with the latest position.
	for i := range 5 {
		putPos(t, store, "gw-a", t1, []float64{119.900, 119.901, 119.902, 119.903, 119.904}[i], true)
	}
	_, d := nextPositions(t, wall)
	if d.Full || d.ids() != "gw-a" || d.Workers[0].Lon != 119.904 {
		t.Fatalf("coalesced positions: %+v", d)
	}
	if _, d := nextPositions(t, d1); d.ids() != "gw-a" {
		t.Fatalf("dispatcher t1 positions: %+v", d)
	}
	// (d2 and the wall get nothing more until the next change: the next
	// positions they read below are those of the move.)

	// gw-a walks into t2: t1's dispatcher is told it left, t2's gets it.
	putPos(t, store, "gw-a", t2, 119.96, true)
	if _, d := nextPositions(t, d1); d.ids() != "" || strings.Join(d.Removed, ",") != "gw-a" {
		t.Fatalf("dispatcher t1 after the move: %+v", d)
	}
	if _, d := nextPositions(t, d2); d.ids() != "gw-a" || d.Workers[0].Lon != 119.96 {
		t.Fatalf("dispatcher t2 after the move: %+v", d)
	}
	if _, d := nextPositions(t, wall); d.ids() != "gw-a" || d.Workers[0].Lon != 119.96 {
		t.Fatalf("wall after the move (one message per interval): %+v", d)
	}
	// gw-b goes off duty: removed everywhere it was seen.
	putPos(t, store, "gw-b", t2, 119.95, false)
	for _, ws := range []*websocket.Conn{wall, d2} {
		for {
			_, d := nextPositions(t, ws)
			if len(d.Removed) > 0 {
				if strings.Join(d.Removed, ",") != "gw-b" {
					t.Fatalf("off duty: %+v", d)
				}
				break
			}
		}
	}
	noPositions(t, wk, 200*time.Millisecond) // last: a timed-out read ends the connection
}

// With a store that signals its writes (the embedded Redis of all-in-one
// mode), the gateway reads its streams without BLOCK, when told: deltas and
// positions arrive at once although the fallback poll is a minute away.
func TestLocalWakeupsDeliverWithoutBlockingReads(t *testing.T) {
	store := newStore(t).WithLocalWakeups()
	const t1 = "321204001000"
	apply(t, store, "W0", 1, scope{}, event.Received, "")
	e := newEnv(t, store, func(g *Gateway) { g.block = time.Minute })
	e.caughtUp()
	wall := e.dial(viewerClaims)
	subscribe(t, wall, "wall", "")
	if m := next(t, wall); m.Type != "snapshot" {
		t.Fatalf("first message %s", m.raw)
	}
	for i := range 3 {
		start := time.Now()
		id := fmt.Sprintf("W%d", i+1)
		apply(t, store, id, 1, scope{}, event.Received, "")
		m := next(t, wall)
		for m.Kind == "positions" {
			m = next(t, wall)
		}
		if m.Kind != "incident" || m.inc(t).ID != id {
			t.Fatalf("delta %d: %s", i, m.raw)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("delta %d after %v: not woken by the write", i, d)
		}
	}
	start := time.Now()
	putPos(t, store, "gw-w", t1, 119.90, true)
	if _, d := nextPositions(t, wall); d.ids() != "gw-w" || time.Since(start) > 3*time.Second {
		t.Fatalf("positions %+v after %v", d, time.Since(start))
	}
}
