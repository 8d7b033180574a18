package playback

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/realtime"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

type rig struct {
	t     *testing.T
	store *redisstore.Store
	srv   *httptest.Server
	url   string
	t0    time.Time
}

func lifecycle(id string, v int, state event.State, at time.Time) kafka.Message {
	inc := event.Incident{ID: id, Version: v, State: state, Title: "事件 " + id, Source: event.Hotline, UpdatedAt: at}
	lc := event.Lifecycle{Schema: event.Schema, ID: fmt.Sprintf("%s/%d", id, v), IncidentID: id, Version: v, To: state, At: at, Incident: inc,
		Case: json.RawMessage(`{"id":"` + id + `","note":"` + strings.Repeat("x", 200) + `"}`)}
	b, _ := wire.Marshal(lc)
	return kafka.Message{Key: []byte(id), Value: b, Time: at}
}

// newRig fills a 3-partition tasks topic around t0 (an hour ago) and serves
// playback on it.
func newRig(t *testing.T) *rig {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	brokers := testenv.Kafka(t)
	topics := kafkabus.Topics{Prefix: testenv.Prefix(t)}
	cctx, ccancel := context.WithTimeout(ctx, time.Minute)
	defer ccancel()
	if err := kafkabus.EnsureTopics(cctx, brokers, 3, 1, []kafkabus.Spec{{Name: topics.Tasks()}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	prod := kafkabus.NewProducer(brokers)
	var msgs []kafka.Message
	for _, m := range []kafka.Message{
		lifecycle("A", 1, event.Received, t0.Add(-2*time.Hour)),
		lifecycle("A", 2, event.Closed, t0.Add(-90*time.Minute)), // closed before from: not in the snapshot
		lifecycle("B", 1, event.Received, t0.Add(-30*time.Minute)),
		lifecycle("C", 1, event.Received, t0.Add(1*time.Second)),
		lifecycle("B", 2, event.Closed, t0.Add(2*time.Second)),
		lifecycle("D", 1, event.Received, t0.Add(3*time.Second)),
		lifecycle("E", 1, event.Received, t0.Add(10*time.Minute)), // after to
	} {
		m.Topic = topics.Tasks()
		msgs = append(msgs, m)
	}
	// Many older records: the fold must be quick.
	for i := range 3000 {
		m := lifecycle(fmt.Sprintf("OLD%d", i), 1, event.Closed, t0.Add(-3*time.Hour+time.Duration(i)*time.Millisecond))
		m.Topic = topics.Tasks()
		msgs = append(msgs, m)
	}
	if err := prod.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	_ = prod.Close()
	store := testenv.Store(t)
	gw := realtime.New(store, nil, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	pb := New(ctx, gw, brokers, topics.Tasks(), slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(pb)
	t.Cleanup(func() {
		cancel()
		pb.Wait()
		srv.Close()
	})
	return &rig{t: t, store: store, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws/playback", t0: t0}
}

func (r *rig) ticket() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	tk := hex.EncodeToString(b)
	raw, _ := json.Marshal(auth.Claims{Subject: "wall", Role: auth.Viewer})
	if err := r.store.PutTicket(context.Background(), tk, raw, 30*time.Second); err != nil {
		r.t.Fatal(err)
	}
	return tk
}

func (r *rig) dial(q url.Values, ticket string, h http.Header) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{Subprotocols: []string{realtime.Protocol, "ticket." + ticket}, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(r.url+"?"+q.Encode(), h)
	if ws != nil {
		r.t.Cleanup(func() { _ = ws.Close() })
	}
	return ws, resp, err
}

type pmsg struct {
	Type   string          `json:"type"`
	Kind   string          `json:"kind"`
	At     string          `json:"at"`
	Paused bool            `json:"paused"`
	Data   json.RawMessage `json:"data"`
}

func read(t *testing.T, ws *websocket.Conn) pmsg {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m pmsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func (r *rig) span(from, to time.Duration, speed string) url.Values {
	return url.Values{"from": {r.t0.Add(from).Format(time.RFC3339)}, "to": {r.t0.Add(to).Format(time.RFC3339)}, "speed": {speed}}
}

func TestPlaybackReplaysTheRange(t *testing.T) {
	r := newRig(t)
	start := time.Now()
	ws, resp, err := r.dial(r.span(0, 4*time.Second, "2"), r.ticket(), nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	snap := read(t, ws)
	var sd struct {
		Incidents []struct{ ID string } `json:"incidents"`
		At        string                `json:"at"`
	}
	if err := json.Unmarshal(snap.Data, &sd); err != nil || snap.Type != "snapshot" || len(sd.Incidents) != 1 || sd.Incidents[0].ID != "B" {
		t.Fatalf("snapshot: %+v %s", snap, snap.Data)
	}
	var got []string
	clocks := 0
	for {
		m := read(t, ws)
		if m.Type == "end" {
			break
		}
		switch m.Type {
		case "clock":
			clocks++
		case "delta":
			var inc struct {
				ID      string `json:"id"`
				Version int    `json:"version"`
			}
			_ = json.Unmarshal(m.Data, &inc)
			at, _ := time.Parse(time.RFC3339Nano, m.At)
			got = append(got, fmt.Sprintf("%s%d@%v", inc.ID, inc.Version, at.Sub(r.t0)))
		}
	}
	if strings.Join(got, " ") != "C1@1s B2@2s D1@3s" {
		t.Errorf("deltas %v", got)
	}
	if el := time.Since(start); el < 1500*time.Millisecond || el > 8*time.Second || clocks < 2 {
		t.Errorf("4 s at 2× took %v with %d clock messages", el, clocks)
	}
}

func TestPlaybackSkipsTheStillStart(t *testing.T) {
	r := newRig(t)
	// From +5 min to +11 min: C and D are open all along, E arrives at +10 min.
	// At 1× the first 5 minutes would show a still picture; playback starts
	// 5 s before E instead.
	ws, resp, err := r.dial(r.span(5*time.Minute, 11*time.Minute, "1"), r.ticket(), nil)
	if err != nil {
		t.Fatalf("dial: %v %v", err, resp)
	}
	snap := read(t, ws)
	var sd struct {
		Incidents []struct{ ID string } `json:"incidents"`
		At        string                `json:"at"`
	}
	if err := json.Unmarshal(snap.Data, &sd); err != nil || len(sd.Incidents) != 2 {
		t.Fatalf("snapshot: %+v %s", snap, snap.Data)
	}
	if at, _ := time.Parse(time.RFC3339Nano, sd.At); at.Sub(r.t0) != 10*time.Minute-leadIn {
		t.Errorf("snapshot at %v after t0, want %v", at.Sub(r.t0), 10*time.Minute-leadIn)
	}
	start := time.Now()
	for {
		m := read(t, ws)
		if m.Type == "delta" {
			if !strings.Contains(string(m.Data), `"id":"E"`) {
				t.Errorf("first delta %s", m.Data)
			}
			break
		}
	}
	if el := time.Since(start); el > 8*time.Second {
		t.Errorf("the first change came after %v", el)
	}
}

func TestPlaybackOpsAndLimits(t *testing.T) {
	r := newRig(t)
	// Bad queries: 400 with a reason, and the ticket is not used up.
	tk := r.ticket()
	for _, q := range []url.Values{
		{"to": {r.t0.Format(time.RFC3339)}},
		r.span(time.Second, 0, "1"),
		r.span(0, 32*24*time.Hour, "1"),
		r.span(0, time.Second, "61"),
		r.span(0, time.Second, "fast"),
	} {
		_, resp, err := r.dial(q, tk, nil)
		if err == nil || resp == nil || resp.StatusCode != 400 {
			t.Errorf("%v: %v %v", q, err, resp)
		}
	}
	if _, resp, _ := r.dial(r.span(0, time.Second, "1"), tk, http.Header{"Origin": {"https://evil.example"}}); resp == nil || resp.StatusCode != 403 {
		t.Errorf("foreign origin: %v", resp)
	}
	if _, resp, _ := r.dial(r.span(0, time.Second, "1"), "nope", nil); resp == nil || resp.StatusCode != 401 {
		t.Errorf("unknown ticket: %v", resp)
	}

	// Two at once; a third is refused.
	a, _, err := r.dial(r.span(0, time.Hour, "1"), tk, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := r.dial(r.span(0, 120*time.Second, "1"), r.ticket(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, resp, _ := r.dial(r.span(0, time.Second, "1"), r.ticket(), nil); resp == nil || resp.StatusCode != 503 {
		t.Errorf("third playback: %v", resp)
	}
	read(t, a)
	_ = a.Close()

	// Pause, then 60×: 120 s of city time end in about 2 s.
	if m := read(t, b); m.Type != "snapshot" {
		t.Fatalf("snapshot: %+v", m)
	}
	_ = b.WriteJSON(map[string]any{"op": "pause"})
	for m := read(t, b); m.Type != "clock" || !m.Paused; m = read(t, b) {
	}
	_ = b.WriteJSON(map[string]any{"op": "speed", "speed": 0})
	for m := read(t, b); m.Type != "error"; m = read(t, b) {
	}
	start := time.Now()
	_ = b.WriteJSON(map[string]any{"op": "speed", "speed": 60})
	_ = b.WriteJSON(map[string]any{"op": "resume"})
	for m := read(t, b); m.Type != "end"; m = read(t, b) {
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("120 s at 60× took %v", el)
	}
	// The slot of the first is free again.
	waitOK := time.Now().Add(5 * time.Second)
	for {
		c, _, err := r.dial(r.span(0, time.Second, "60"), r.ticket(), nil)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(waitOK) {
			t.Fatalf("slot not freed: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFoldSpeed measures the fold (PLAYBACK_FOLD_N records before from;
// skipped without it): go test -run TestFoldSpeed -v ./playback/.
func TestFoldSpeed(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PLAYBACK_FOLD_N"))
	if n == 0 {
		t.Skip("set PLAYBACK_FOLD_N")
	}
	brokers := testenv.Kafka(t)
	topics := kafkabus.Topics{Prefix: testenv.Prefix(t)}
	ctx := context.Background()
	if err := kafkabus.EnsureTopics(ctx, brokers, 3, 1, []kafkabus.Spec{{Name: topics.Tasks()}}); err != nil {
		t.Fatal(err)
	}
	prod := kafkabus.NewProducer(brokers)
	t0 := time.Now().Add(-time.Hour)
	var msgs []kafka.Message
	size := 0
	for i := range n {
		m := lifecycle(fmt.Sprintf("INC-%d", i%(n/4+1)), i/(n/4+1)+1, event.Received, t0.Add(time.Duration(i)*time.Millisecond))
		m.Topic = topics.Tasks()
		size += len(m.Value)
		msgs = append(msgs, m)
		if len(msgs) == 5000 {
			if err := prod.Publish(ctx, msgs...); err != nil {
				t.Fatal(err)
			}
			msgs = msgs[:0]
		}
	}
	if err := prod.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	_ = prod.Close()
	s := &Server{brokers: brokers, topic: topics.Tasks()}
	start := time.Now()
	state, changes, err := s.load(ctx, query{from: time.Now().Add(-time.Minute), to: time.Now(), speed: 1})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	t.Logf("folded %d records (%d MB, avg %d B) into %d incidents in %v: %.0f records/s; %d changes after from",
		n, size>>20, size/n, len(state), el.Round(time.Millisecond), float64(n)/el.Seconds(), len(changes))
}

func TestLatestOnlyKeepsTheLastChangeOfEachIncident(t *testing.T) {
	at := time.Now()
	cs := []change{{at: at, id: "A", version: 1}, {at: at, id: "B", version: 1}, {at: at, id: "A", version: 2}, {at: at, id: "C", version: 1}, {at: at, id: "B", version: 2}}
	var got []string
	for _, c := range latestOnly(cs) {
		got = append(got, fmt.Sprintf("%s%d", c.id, c.version))
	}
	if strings.Join(got, " ") != "A2 C1 B2" {
		t.Fatalf("latest only: %v", got)
	}
	if len(latestOnly(cs[:2])) != 2 || len(latestOnly(nil)) != 0 {
		t.Fatal("distinct changes kept as they are")
	}
}
