package realtime

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/event"
)

func TestUpgradeRefusedBeforeUpgrade(t *testing.T) {
	e := newEnv(t, nil, nil)
	good := func() string { return e.ticket(viewerClaims) }
	used := good()
	if _, _, err := e.dialWith([]string{Protocol, "ticket." + used}, nil, nil); err != nil {
		t.Fatalf("first use of a ticket: %v", err)
	}
	for _, tc := range []struct {
		name      string
		protocols []string
		origin    string
		want      int
	}{
		{"no subprotocol", nil, "", 401},
		{"no ticket", []string{Protocol}, "", 401},
		{"ticket without citybrain.v1", []string{"ticket." + good()}, "", 401},
		{"empty ticket", []string{Protocol, "ticket."}, "", 401},
		{"unknown ticket", []string{Protocol, "ticket.0123456789abcdef"}, "", 401},
		{"reused ticket", []string{Protocol, "ticket." + used}, "", 401},
		{"foreign origin", []string{Protocol, "ticket." + good()}, "https://evil.example", 403},
		{"origin of another port", []string{Protocol, "ticket." + good()}, "http://127.0.0.1:1", 403},
		{"configured origin", []string{Protocol, "ticket." + good()}, "https://wall.city.example", 101},
		{"same host", []string{Protocol, "ticket." + good()}, strings.Replace(e.url, "ws", "http", 1), 101},
		{"no origin (not a browser)", []string{Protocol, "ticket." + good()}, "", 101},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			ws, resp, err := e.dialWith(tc.protocols, h, nil)
			if got := status(resp); got != tc.want {
				t.Fatalf("status %d (%v), want %d", got, err, tc.want)
			}
			if tc.want == 101 && ws.Subprotocol() != Protocol {
				t.Fatalf("subprotocol %q", ws.Subprotocol())
			}
		})
	}

	t.Run("refusals keep the ticket", func(t *testing.T) {
		tk := good()
		resp, err := http.Get(e.srv.URL + "?ticket=" + tk) // not an upgrade
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("plain GET: %d", resp.StatusCode)
		}
		h := http.Header{"Origin": {"https://evil.example"}}
		if _, resp, _ := e.dialWith([]string{Protocol, "ticket." + tk}, h, nil); status(resp) != 403 {
			t.Fatalf("foreign origin: %d", status(resp))
		}
		if _, resp, err := e.dialWith([]string{Protocol, "ticket." + tk}, nil, nil); err != nil {
			t.Fatalf("ticket after refusals: %v %d", err, status(resp))
		}
	})

	t.Run("bad claims", func(t *testing.T) {
		_ = e.store.PutTicket(t.Context(), "garbled", []byte("{"), time.Minute)
		if _, resp, _ := e.dialWith([]string{Protocol, "ticket.garbled"}, nil, nil); status(resp) != 401 {
			t.Fatalf("status %d", status(resp))
		}
	})
}

func TestReadLimitClosesTheConnection(t *testing.T) {
	e := newEnv(t, nil, nil)
	ws := e.dial(viewerClaims)
	// 4 KiB is allowed (and answered: it is not JSON) …
	if err := ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), readLimit)); err != nil {
		t.Fatal(err)
	}
	if m := read(t, ws); m.Type != "error" || m.Code != "bad_request" {
		t.Fatalf("got %s", m.raw)
	}
	// … one byte more closes the connection with 1009.
	if err := ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), readLimit+1)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := ws.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("read after an oversized message: %v", err)
	}
	waitFor(t, 2*time.Second, "the connection to be forgotten", func() bool { return counter(e.g.metrics.conns) == 0 })
}

func TestClientMessageRateLimit(t *testing.T) {
	e := newEnv(t, nil, nil)
	ws := e.dial(viewerClaims)
	for range msgBurst + 10 {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"op":"nop"}`)); err != nil {
			break
		}
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue // the bad_request answers before the limit
		}
		if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
			t.Fatalf("got %v, want close 1008", err)
		}
		return
	}
}

func TestSnapshotThenDeltasWithIncreasingSeq(t *testing.T) {
	e := newEnv(t, nil, nil)
	for i := range 3 {
		apply(t, e.store, fmt.Sprintf("INC-%d", i), 1, scope{}, event.Received, "before")
	}
	e.caughtUp()
	ws := e.dial(viewerClaims)
	subscribe(t, ws, "wall", "")
	snap := next(t, ws)
	if snap.Type != "snapshot" || snap.Channel != "wall" {
		t.Fatalf("first message %s", snap.raw)
	}
	if ids := snap.snapshotIDs(t); len(ids) != 3 {
		t.Fatalf("snapshot incidents %v", ids)
	}
	if !bytes.Contains(snap.raw, []byte(`"stats":{`)) {
		t.Fatalf("wall snapshot without stats: %s", snap.raw)
	}
	last := seqOf(t, snap.Seq)
	want := []string{"INC-3", "INC-4", "INC-0", "INC-5"}
	for _, id := range want {
		v := 1
		if id == "INC-0" {
			v = 2
		}
		apply(t, e.store, id, v, scope{}, event.Filed, "after")
	}
	for i, id := range want {
		m := next(t, ws)
		// The wall's wire format is fixed: the UI depends on it.
		if !bytes.HasPrefix(m.raw, []byte(`{"type":"delta","channel":"wall","seq":"`)) || m.Kind != "incident" {
			t.Fatalf("delta %d: %s", i, m.raw)
		}
		if got := m.inc(t).ID; got != id {
			t.Fatalf("delta %d is %s, want %s", i, got, id)
		}
		s := seqOf(t, m.Seq)
		if !last.less(s) {
			t.Fatalf("seq %s after %s", s, last)
		}
		last = s
	}
	// Stats follow within a second or so, coalesced.
	deadline := time.Now().Add(3 * time.Second)
	for {
		m := read(t, ws)
		if m.Kind == "stats" {
			if !bytes.Contains(m.Data, []byte(`"open":6`)) {
				t.Fatalf("stats %s", m.Data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no stats")
		}
	}
}

func TestResumeGetsExactlyWhatWasMissed(t *testing.T) {
	store := newStore(t)
	e := newEnv(t, store, nil)
	ws := e.dial(viewerClaims)
	subscribe(t, ws, "wall", "")
	if m := next(t, ws); m.Type != "snapshot" {
		t.Fatalf("got %s", m.raw)
	}
	for i := range 3 {
		apply(t, store, fmt.Sprintf("A%d", i), 1, scope{}, event.Received, "")
	}
	var seqs []string
	for range 3 {
		seqs = append(seqs, next(t, ws).Seq)
	}
	_ = ws.Close()

	// Missed while away: four new incidents and a change of one seen.
	missed := []string{"B0", "B1", "A1", "B2", "B3"}
	for _, id := range missed {
		v := 1
		if id == "A1" {
			v = 2
		}
		apply(t, store, id, v, scope{}, event.Filed, "")
	}
	check := func(t *testing.T, e *env, since, live string, want ...string) {
		ws := e.dial(viewerClaims)
		subscribe(t, ws, "wall", since)
		apply(t, store, live, 1, scope{}, event.Received, "")
		if got := until(t, ws, live); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("resumed from %s: got %v, want %v", since, got, want)
		}
	}
	t.Run("from the last seq", func(t *testing.T) { check(t, e, seqs[2], "L1", missed...) })
	t.Run("from an earlier seq", func(t *testing.T) {
		// A1's first state is replaced by its newer one, which comes once.
		check(t, e, seqs[0], "L2", "A2", "B0", "B1", "A1", "B2", "B3", "L1")
	})
	t.Run("on another instance", func(t *testing.T) {
		other := newEnv(t, store, nil) // started after the deltas: its resume buffer is read from Redis
		check(t, other, seqs[2], "L3", "B0", "B1", "A1", "B2", "B3", "L1", "L2")
	})
}

func TestResyncWhenSeqCannotBeContinued(t *testing.T) {
	e := newEnv(t, nil, func(g *Gateway) { g.ringSize = 4 })
	for i := range 8 {
		apply(t, e.store, fmt.Sprintf("I%d", i), 1, scope{}, event.Received, "")
	}
	e.caughtUp()
	ws := e.dial(viewerClaims)
	subscribe(t, ws, "wall", "")
	snap := next(t, ws)
	first, _ := e.store.Client().XRangeN(t.Context(), e.store.WallStream(), "-", "+", 1).Result()
	for _, tc := range []struct{ name, since string }{
		{"malformed", "yesterday"},
		{"unknown", "1-0"},
		{"ahead of the stream", "99999999999999-0"},
		{"older than the resume buffer", first[0].ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subscribe(t, ws, "wall", tc.since)
			if m := next(t, ws); m.Type != "reload" || m.Channel != "wall" {
				t.Fatalf("got %s", m.raw)
			}
		})
	}
	t.Run("after a flush", func(t *testing.T) {
		subscribe(t, ws, "wall", snap.Seq)
		if err := e.store.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		if m := next(t, ws); m.Type != "reload" {
			t.Fatalf("live subscriber got %s, want reload", m.raw)
		}
		ws2 := e.dial(viewerClaims)
		subscribe(t, ws2, "wall", snap.Seq)
		if m := next(t, ws2); m.Type != "reload" {
			t.Fatalf("old seq after the flush: %s", m.raw)
		}
		// Until a rebuild marks the store built, a snapshot would be
		// partial: the client is told the situation is being restored.
		subscribe(t, ws2, "wall", "")
		if m := next(t, ws2); m.Type != "error" || !strings.Contains(string(m.raw), `"code":"restoring"`) {
			t.Fatalf("subscribe while the projections are rebuilt: %s, want error restoring", m.raw)
		}
		if err := e.store.SetBuilt(t.Context()); err != nil {
			t.Fatal(err)
		}
		subscribe(t, ws2, "wall", "")
		if m := next(t, ws2); m.Type != "snapshot" || len(m.snapshotIDs(t)) != 0 {
			t.Fatalf("snapshot after the flush and the rebuild: %s", m.raw)
		}
	})
}

func TestScopedChannels(t *testing.T) {
	e := newEnv(t, nil, nil)
	const t1, t2 = "321204001000", "321204002000"
	const g1, g2, g3 = "321204001001-01", "321204002001-01", "321204002002-01"
	workerA := auth.Claims{Subject: "wA", Role: auth.Worker, Scope: g1}
	workerB := auth.Claims{Subject: "wB", Role: auth.Worker, Scope: g2}
	dispT1 := auth.Claims{Subject: "d1", Role: auth.Dispatcher, Scope: t1}
	dispAll := auth.Claims{Subject: "d0", Role: auth.Dispatcher}

	t.Run("roles", func(t *testing.T) {
		for _, tc := range []struct {
			claims auth.Claims
			ch     string
			ok     bool
		}{
			{viewerClaims, "wall", true}, {viewerClaims, "dispatcher", false}, {viewerClaims, "worker", false},
			{workerA, "wall", true}, {workerA, "dispatcher", false}, {workerA, "worker", true},
			{dispT1, "wall", true}, {dispT1, "dispatcher", true}, {dispT1, "worker", false},
			{adminClaims, "dispatcher", true}, {adminClaims, "worker", false},
		} {
			ws := e.dial(tc.claims)
			subscribe(t, ws, tc.ch, "")
			m := next(t, ws)
			if tc.ok != (m.Type == "snapshot") || (!tc.ok && m.Code != "forbidden") {
				t.Errorf("%s on %s: %s", tc.claims.Role, tc.ch, m.raw)
			}
		}
	})

	// Before anyone subscribes: a snapshot per scope.
	apply(t, e.store, "S1", 1, scope{t1, g1, ""}, event.Filed, "")   // A's grid, unassigned
	apply(t, e.store, "S2", 1, scope{t1, g1, "wB"}, event.Filed, "") // A's grid, B's task
	apply(t, e.store, "S3", 1, scope{t2, g3, "wA"}, event.Filed, "") // A's task elsewhere
	apply(t, e.store, "S4", 1, scope{t2, g2, ""}, event.Closed, "")  // B's grid, closed
	e.caughtUp()

	clients := map[string]*websocket.Conn{}
	for name, c := range map[string]struct {
		claims auth.Claims
		ch     string
	}{"A": {workerA, "worker"}, "B": {workerB, "worker"}, "T1": {dispT1, "dispatcher"}, "ALL": {dispAll, "dispatcher"}, "WALL": {viewerClaims, "wall"}} {
		ws := e.dial(c.claims)
		subscribe(t, ws, c.ch, "")
		clients[name] = ws
	}
	// Snapshots hold open incidents only, the wall's too (closed S4 comes as deltas while it changes).
	wantSnap := map[string]string{"A": "S3,S1", "B": "S2", "T1": "S2,S1", "ALL": "S3,S2,S1", "WALL": "S3,S2,S1"}
	for name, ws := range clients {
		m := next(t, ws)
		if got := strings.Join(m.snapshotIDs(t), ","); m.Type != "snapshot" || got != wantSnap[name] {
			t.Errorf("%s snapshot %s, want %s", name, got, wantSnap[name])
		}
	}

	apply(t, e.store, "D1", 1, scope{t1, g1, ""}, event.Filed, "")      // A's grid
	apply(t, e.store, "D2", 1, scope{t1, g1, "wB"}, event.Filed, "")    // B's task in A's grid
	apply(t, e.store, "D3", 1, scope{t2, g2, "wA"}, event.Filed, "")    // A's task in B's grid
	apply(t, e.store, "D4", 1, scope{t2, g3, ""}, event.Filed, "")      // nobody's grid
	apply(t, e.store, "D2", 2, scope{t1, g1, "wA"}, event.Accepted, "") // reassigned B → A
	apply(t, e.store, "D1", 2, scope{t1, g1, "wB"}, event.Accepted, "") // assigned in A's grid to B
	apply(t, e.store, "D3", 2, scope{t1, g2, "wA"}, event.Accepted, "") // moved to town 1
	apply(t, e.store, "END", 1, scope{t1, g1, ""}, event.Filed, "")     // seen by A, T1, ALL, WALL
	apply(t, e.store, "END", 2, scope{t1, g2, ""}, event.Filed, "")     // … and then by B
	// A slow-ish client may get only the latest of several changes of an
	// incident (coalescing), so what is checked is what each one ends up
	// holding and that every message it got was allowed.
	for name, tc := range map[string]struct {
		final string
		may   func(d incData) bool
	}{
		"A":    {"D2:2,D3:2", func(d incData) bool { return d.worker() == "wA" || d.worker() == "" && d.Place.Grid.Code == g1 }},
		"B":    {"D1:2", func(d incData) bool { return d.worker() == "wB" || d.worker() == "" && d.Place.Grid.Code == g2 }},
		"T1":   {"D1:2,D2:2,D3:2", func(d incData) bool { return d.Place.Town.Code == t1 }},
		"ALL":  {"D1:2,D2:2,D3:2,D4:1", func(incData) bool { return true }},
		"WALL": {"D1:2,D2:2,D3:2,D4:1", func(incData) bool { return true }},
	} {
		held := map[string]int{}
		ws := clients[name]
		for {
			m := next(t, ws)
			d := m.inc(t)
			if m.Type != "delta" {
				t.Fatalf("%s got %s", name, m.raw)
			}
			if d.ID == "END" {
				break
			}
			if m.Kind == "remove" {
				delete(held, d.ID)
				continue
			}
			if !tc.may(d) {
				t.Errorf("%s received %s, which it may not see", name, m.raw)
			}
			held[d.ID] = d.Version
		}
		var got []string
		for _, id := range []string{"D1", "D2", "D3", "D4"} {
			if v, ok := held[id]; ok {
				got = append(got, fmt.Sprintf("%s:%d", id, v))
			}
		}
		if strings.Join(got, ",") != tc.final {
			t.Errorf("%s holds %v, want %s", name, got, tc.final)
		}
	}
}

func TestUnsubscribe(t *testing.T) {
	e := newEnv(t, nil, nil)
	ws := e.dial(adminClaims)
	subscribe(t, ws, "wall", "")
	subscribe(t, ws, "dispatcher", "")
	for range 2 {
		if m := next(t, ws); m.Type != "snapshot" {
			t.Fatalf("got %s", m.raw)
		}
	}
	if err := ws.WriteJSON(map[string]string{"op": "unsubscribe", "channel": "wall"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the request is handled in order with the next one only
	apply(t, e.store, "U1", 1, scope{}, event.Filed, "")
	m := next(t, ws)
	if m.Channel != "dispatcher" || m.inc(t).ID != "U1" {
		t.Fatalf("got %s", m.raw)
	}
	apply(t, e.store, "U2", 1, scope{}, event.Filed, "")
	if m := next(t, ws); m.Channel != "dispatcher" || m.inc(t).ID != "U2" {
		t.Fatalf("got %s", m.raw)
	}
}

func TestSlowClientIsDroppedOthersKeepUp(t *testing.T) {
	e := newEnv(t, nil, func(g *Gateway) {
		g.queueLimit = 64
	})
	slow, _, err := e.dialWith([]string{Protocol, "ticket." + e.ticket(viewerClaims)}, nil, smallReadDialer())
	if err != nil {
		t.Fatal(err)
	}
	subscribe(t, slow, "wall", "") // and never read
	fast := e.dial(viewerClaims)
	subscribe(t, fast, "wall", "")
	if m := next(t, fast); m.Type != "snapshot" {
		t.Fatalf("got %s", m.raw)
	}
	waitFor(t, 2*time.Second, "both subscribed", func() bool {
		e.g.mu.Lock()
		defer e.g.mu.Unlock()
		return len(e.g.idx.wall) == 2
	})

	const n = 300
	title := strings.Repeat("路面塌陷", 400) // ~5 KB per delta
	done := make(chan error, 1)
	go func() {
		var worst time.Duration
		for i := 0; i < n; {
			_ = fast.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, b, err := fast.ReadMessage()
			if err != nil {
				done <- err
				return
			}
			if !bytes.Contains(b, []byte(`"kind":"incident"`)) {
				continue
			}
			var s streamID
			if i := bytes.Index(b, []byte(`"seq":"`)); i > 0 {
				s, _ = parseID(string(b[i+7 : i+7+bytes.IndexByte(b[i+7:], '"')]))
			}
			worst = max(worst, time.Since(time.UnixMilli(int64(s.ms))))
			i++
		}
		if worst > 2*time.Second {
			done <- fmt.Errorf("worst latency of the fast client %v", worst)
			return
		}
		done <- nil
	}()
	for i := range n {
		apply(t, e.store, fmt.Sprintf("F%03d", i), 1, scope{}, event.Received, title)
	}
	if err := <-done; err != nil {
		t.Fatalf("fast client: %v", err)
	}
	waitFor(t, 5*time.Second, "the slow client to be dropped", func() bool { return counter(e.g.metrics.dropped) == 1 })
	waitFor(t, 5*time.Second, "the slow connection to be closed", func() bool { return counter(e.g.metrics.conns) == 1 })
	// The slow client finds its connection ended once it reads what was sent
	// (on a busy machine the draining may take a while: what counts is that
	// the reads end, not within 5 s in all).
	for end := time.Now().Add(30 * time.Second); ; {
		if time.Now().After(end) {
			t.Fatal("slow client still receiving after 30 s")
		}
		_ = slow.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := slow.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("slow client still connected")
			}
			break
		}
	}
}

func TestSilentClientIsDroppedThoughItsWriteIsStalled(t *testing.T) {
	// A client that stops reading stops answering pings too. Once it has
	// been silent for pongWait it is gone, even while the writer is still
	// blocked on its full socket with a deadline far away (a large batch
	// is allowed size/minWriteRate; here writeWait itself is long).
	e := newEnv(t, nil, func(g *Gateway) {
		g.pingEvery, g.pongWait, g.writeWait = 100*time.Millisecond, time.Second, time.Minute
		g.sndBuf = 4096
	})
	slow, _, err := e.dialWith([]string{Protocol, "ticket." + e.ticket(viewerClaims)}, nil, smallReadDialer())
	if err != nil {
		t.Fatal(err)
	}
	subscribe(t, slow, "wall", "") // and never read
	waitFor(t, 2*time.Second, "subscribed", func() bool {
		e.g.mu.Lock()
		defer e.g.mu.Unlock()
		return len(e.g.idx.wall) == 1
	})
	title := strings.Repeat("路面塌陷", 400) // ~5 KB per delta: the socket is full after a few
	for i := range 100 {
		apply(t, e.store, fmt.Sprintf("S%03d", i), 1, scope{}, event.Received, title)
	}
	waitFor(t, 10*time.Second, "the silent client to be closed", func() bool { return counter(e.g.metrics.conns) == 0 })
	if n := counter(e.g.metrics.dropped); n != 0 {
		t.Fatalf("dropped for a full queue: %v (the queue limit was not reached)", n)
	}
}

func TestShutdownSendsGoingAway(t *testing.T) {
	e := newEnv(t, nil, nil)
	var conns []*websocket.Conn
	for i := range 3 {
		ws := e.dial(viewerClaims)
		if i > 0 { // one that never subscribed is closed too
			subscribe(t, ws, "wall", "")
			if m := next(t, ws); m.Type != "snapshot" {
				t.Fatalf("got %s", m.raw)
			}
		}
		conns = append(conns, ws)
	}
	t0 := time.Now()
	e.stop()
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	for i, ws := range conns {
		_ = ws.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			_, _, err := ws.ReadMessage()
			if err == nil {
				continue
			}
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Errorf("client %d: %v, want close 1001", i, err)
			}
			break
		}
	}
	if _, resp, _ := e.dialWith([]string{Protocol, "ticket." + e.ticket(viewerClaims)}, nil, nil); status(resp) != 503 {
		t.Errorf("upgrade after shutdown: %d, want 503", status(resp))
	}
}

func TestStreamEntriesAreValidatedBeforeRelay(t *testing.T) {
	e := newEnv(t, nil, nil)
	ws := e.dial(viewerClaims)
	subscribe(t, ws, "wall", "")
	if m := next(t, ws); m.Type != "snapshot" {
		t.Fatalf("got %s", m.raw)
	}
	rdb, stream := e.store.Client(), e.store.WallStream()
	for _, v := range []map[string]any{
		{"kind": "incident", "data": "{\"id\":\"BAD-UTF8\",\"version\":1,\"state\":\"filed\",\"title\":\"井盖\xff\xfe缺失\"}"},
		{"kind": "incident", "data": `{"id":"BROKEN","version":1,`},
		{"kind": "incident", "data": `{"version":1}`},
		{"kind": "worker_position", "data": `{"id":"W1","lon":120.1,"lat":32.5}`},
		{"kind": "incident", "data": `{"id":"OK","version":1,"state":"filed"}`},
	} {
		if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: stream, Values: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	m := next(t, ws) // read checks every frame is valid UTF-8
	if d := m.inc(t); d.ID != "BAD-UTF8" || d.Title != "井盖\uFFFD缺失" {
		t.Fatalf("got %s", m.raw)
	}
	if m := next(t, ws); m.inc(t).ID != "OK" {
		t.Fatalf("got %s after the bad entries", m.raw)
	}
	for problem, want := range map[string]float64{"invalid_utf8": 1, "bad_json": 2, "unknown_kind": 1} {
		if got := counter(e.g.metrics.problems.WithLabelValues(problem)); got != want {
			t.Errorf("%s: %v, want %v", problem, got, want)
		}
	}
}

func TestConnectionEndsWhenTheTokenExpires(t *testing.T) {
	e := newEnv(t, nil, func(g *Gateway) { g.pingEvery = 100 * time.Millisecond })
	c := viewerClaims
	c.ExpiresAt = time.Now().Add(time.Second).Unix() + 1
	ws := e.dial(c)
	subscribe(t, ws, "wall", "")
	if m := next(t, ws); m.Type != "snapshot" {
		t.Fatalf("got %s", m.raw)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
			t.Fatalf("got %v, want close 1008 at expiry", err)
		}
		break
	}
}

// TestConnectionEndsWhenItsAccountChanges: when the api publishes accounts
// in which a connection's account is changed (its fingerprint differs) or
// missing, that connection is closed with 1008 and a new one with its old
// ticket is refused; the others, anonymous viewers included, stay.
func TestConnectionEndsWhenItsAccountChanges(t *testing.T) {
	e := newEnv(t, nil, func(g *Gateway) { g.accountsEvery = 50 * time.Millisecond })
	ctx := t.Context()
	disp := auth.Claims{Subject: "dispatcher", Role: auth.Dispatcher, Account: "fp-1"}
	work := auth.Claims{Subject: "worker", Role: auth.Worker, Scope: "321204004012004", Account: "fp-w"}
	anon := auth.Claims{Subject: "anonymous", Role: auth.Viewer}
	if err := e.store.PutAccounts(ctx, map[string]string{"dispatcher": "fp-1", "worker": "fp-w"}); err != nil {
		t.Fatal(err)
	}
	var conns []*websocket.Conn
	for _, c := range []auth.Claims{disp, work, anon} {
		ws := e.dial(c)
		subscribe(t, ws, map[string]string{auth.Dispatcher: "dispatcher", auth.Worker: "worker", auth.Viewer: "wall"}[c.Role], "")
		if m := next(t, ws); m.Type != "snapshot" {
			t.Fatalf("%s: got %s", c.Subject, m.raw)
		}
		conns = append(conns, ws)
	}
	closed := func(ws *websocket.Conn) error {
		_ = ws.SetReadDeadline(time.Now().Add(3 * time.Second))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return err
			}
		}
	}

	// The dispatcher's password changes: a new fingerprint.
	if err := e.store.PutAccounts(ctx, map[string]string{"dispatcher": "fp-2", "worker": "fp-w"}); err != nil {
		t.Fatal(err)
	}
	if err := closed(conns[0]); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) || !strings.Contains(err.Error(), accountGone) {
		t.Fatalf("the changed account's connection: %v", err)
	}
	_, resp, err := e.dialWith([]string{Protocol, "ticket." + e.ticket(disp)}, nil, nil)
	if err == nil || status(resp) != http.StatusUnauthorized {
		t.Fatalf("a ticket for the old account: %v %d", err, status(resp))
	}
	disp.Account = "fp-2"
	e.dial(disp) // the account as it is now

	// The worker is taken out.
	if err := e.store.PutAccounts(ctx, map[string]string{"dispatcher": "fp-2"}); err != nil {
		t.Fatal(err)
	}
	if err := closed(conns[1]); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Fatalf("the removed account's connection: %v", err)
	}
	// The anonymous viewer stays; so does everything when nothing is
	// published (a Redis that lost it).
	if err := e.store.PutAccounts(ctx, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	apply(t, e.store, "INC-ACC", 1, scope{town: "321204004000", grid: "321204004012004"}, event.Received, "t")
	if got := until(t, conns[2], "INC-ACC"); len(got) != 0 {
		t.Fatalf("anonymous viewer: got %v first", got)
	}
}
