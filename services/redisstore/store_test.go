package redisstore_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/services/embedded"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// This suite runs against miniredis in make test and against a real Redis
// server in make test-integration (TEST_REDIS_ADDR).

func lifecycle(id string, v int, state event.State, at time.Time, src event.Source) event.Lifecycle {
	lc := event.Lifecycle{Schema: event.Schema, ID: id + "/" + string(rune('0'+v)), IncidentID: id, Version: v, To: state, At: at,
		Incident: event.Incident{ID: id, Version: v, State: state, Source: event.Hotline, UpdatedAt: at, Title: "t"}}
	if src != "" {
		lc.EventID, lc.EventSource = "EV-"+id, src
	}
	return lc
}

func TestSuiteStoreApplyIsIdempotentAndOrdered(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		lc   event.Lifecycle
		want bool
	}{
		{lifecycle("INC-A", 1, event.Received, now, event.Hotline), true},
		{lifecycle("INC-A", 2, event.Dispatched, now.Add(time.Second), ""), true},
		{lifecycle("INC-A", 1, event.Received, now, event.Hotline), false}, // replayed
		{lifecycle("INC-A", 2, event.Dispatched, now, ""), false},          // duplicate
		{lifecycle("INC-B", 1, event.Received, now, event.Grid), true},
		{lifecycle("INC-B", 2, event.Closed, now.Add(2*time.Second), ""), true},
	} {
		got, err := s.Apply(ctx, tc.lc)
		if err != nil || got != tc.want {
			t.Fatalf("Apply(%s v%d) = %v, %v; want %v", tc.lc.IncidentID, tc.lc.Version, got, err, tc.want)
		}
	}
	inc, err := s.Incident(ctx, "INC-A")
	if err != nil || inc.Version != 2 || inc.State != event.Dispatched {
		t.Fatalf("incident %+v %v", inc, err)
	}
	if _, err := s.Incident(ctx, "INC-X"); !errors.Is(err, redisstore.ErrNotFound) {
		t.Fatalf("missing incident: %v", err)
	}
	tl, err := s.Timeline(ctx, "INC-A")
	if err != nil || len(tl) != 2 || tl[0].Version != 1 || tl[1].Version != 2 {
		t.Fatalf("timeline %+v %v", tl, err)
	}
	all, total, err := s.Incidents(ctx, redisstore.Query{})
	if err != nil || total != 2 || all[0].ID != "INC-B" {
		t.Fatalf("incidents %v %d %v", all, total, err)
	}
	open, total, _ := s.Incidents(ctx, redisstore.Query{OpenOnly: true})
	if total != 1 || open[0].ID != "INC-A" {
		t.Fatalf("open incidents %v", open)
	}
	st, err := s.Stats(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if st.Today[event.Hotline] != 1 || st.Today[event.Grid] != 1 || st.Open != 1 || st.Closed != 1 || st.Total != 2 {
		t.Fatalf("stats %+v", st)
	}
	n, err := s.Client().XLen(ctx, s.WallStream()).Result()
	if err != nil || n != 4 {
		t.Fatalf("stream length %d %v, want 4 deltas", n, err)
	}
}

// TestTicketOutlivesEmbeddedClockMove: the embedded Redis moves its clock a
// minute at a time; a ticket issued just before a move must still be taken
// after it (it was refused: its key's 30 s TTL ran out at the move).
func TestTicketOutlivesEmbeddedClockMove(t *testing.T) {
	r, err := embedded.StartRedis()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	s := redisstore.New(rdb, testenv.Prefix(t), time.UTC)
	ctx := t.Context()
	if err := s.PutTicket(ctx, "t1", []byte(`{"role":"viewer"}`), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	r.Advance(embedded.TickEvery)
	if b, err := s.TakeTicket(ctx, "t1"); err != nil || string(b) != `{"role":"viewer"}` {
		t.Fatalf("a ticket issued just before the clock moved: %s, %v", b, err)
	}
	// One never taken is still cleaned up by the moves after its deadline.
	if err := s.PutTicket(ctx, "t2", []byte(`{"role":"viewer"}`), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		r.Advance(embedded.TickEvery)
	}
	if n := rdb.Exists(ctx, s.Prefix()+"ticket:t2").Val(); n != 0 {
		t.Fatalf("an untaken ticket's key is still there after three moves")
	}
}

func TestSuiteStoreTicketsAndMarks(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	if err := s.PutTicket(ctx, "abc", []byte(`{"role":"viewer"}`), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if b, err := s.TakeTicket(ctx, "abc"); err != nil || string(b) != `{"role":"viewer"}` {
		t.Fatalf("take %s %v", b, err)
	}
	if _, err := s.TakeTicket(ctx, "abc"); !errors.Is(err, redisstore.ErrNotFound) {
		t.Fatalf("a ticket works once: %v", err)
	}
	// Past its deadline a ticket is refused even where its key has not
	// expired yet (the embedded Redis expires keys once a minute).
	if err := s.PutTicket(ctx, "late", []byte(`{"role":"viewer"}`), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(80 * time.Millisecond)
	if b, err := s.TakeTicket(ctx, "late"); !errors.Is(err, redisstore.ErrNotFound) {
		t.Fatalf("a ticket past its deadline: %s, %v", b, err)
	}
	// One stored by the version before deadlines (the claims alone) still works.
	if err := s.Client().Set(ctx, strings.TrimSuffix(s.WallStream(), "rt:wall")+"ticket:old", `{"role":"viewer"}`, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if b, err := s.TakeTicket(ctx, "old"); err != nil || string(b) != `{"role":"viewer"}` {
		t.Fatalf("a ticket of the previous format: %s, %v", b, err)
	}
	first, _ := s.MarkSeen(ctx, "ingest", "EV-1", time.Hour)
	second, _ := s.MarkSeen(ctx, "ingest", "EV-1", time.Hour)
	if !first || second {
		t.Fatalf("marks %v %v", first, second)
	}
	// An array's marks, in one round trip each way.
	if err := s.MarkSeenAll(ctx, "ingest", []string{"EV-2", "EV-1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if seen, err := s.SeenAll(ctx, "ingest", []string{"EV-1", "EV-3", "EV-2"}); err != nil || !slices.Equal(seen, []bool{true, false, true}) {
		t.Fatalf("marks of an array: %v %v", seen, err)
	}
	if ttl := s.Client().TTL(ctx, s.Prefix()+"seen:ingest:EV-2").Val(); ttl <= 0 || ttl > time.Hour {
		t.Fatalf("an array's mark expires after %v", ttl)
	}
	if seen, err := s.SeenAll(ctx, "ingest", nil); err != nil || len(seen) != 0 {
		t.Fatalf("marks of no ids: %v %v", seen, err)
	}
	if ok, _ := s.Lock(ctx, "rebuild", "a", time.Minute); !ok {
		t.Fatal("lock")
	}
	if ok, _ := s.Lock(ctx, "rebuild", "b", time.Minute); ok {
		t.Fatal("lock taken twice")
	}
	if ok, err := s.Extend(ctx, "rebuild", "a", time.Hour); !ok || err != nil {
		t.Fatalf("the owner extends its lock: %v %v", ok, err)
	}
	if ttl := s.Client().TTL(ctx, s.Prefix()+"lock:rebuild").Val(); ttl <= time.Minute {
		t.Fatalf("lock's time to live after extending it: %v", ttl)
	}
	if ok, _ := s.Extend(ctx, "rebuild", "b", time.Hour); ok {
		t.Fatal("another owner extended the lock")
	}
	if err := s.Unlock(ctx, "rebuild", "a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Extend(ctx, "rebuild", "a", time.Hour); ok {
		t.Fatal("a lock released was extended")
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if seen, _ := s.Seen(ctx, "ingest", "EV-1"); seen {
		t.Fatal("flush left keys")
	}
}

// A live write into a flushed store is refused (it would hide the older
// versions the rebuild replays); the rebuild itself may write.
func TestSuiteStoreRefusesLiveWritesUntilBuilt(t *testing.T) {
	s := testenv.Store(t)
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := s.Apply(t.Context(), lifecycle("INC-Z", 3, event.Dispatched, now, "")); !errors.Is(err, redisstore.ErrNotBuilt) {
		t.Fatalf("live write into a flushed store: %v", err)
	}
	for v := 1; v <= 3; v++ {
		if ok, err := s.ApplyRebuild(t.Context(), lifecycle("INC-Z", v, event.Dispatched, now, "")); err != nil || !ok {
			t.Fatalf("rebuild v%d: %v %v", v, ok, err)
		}
	}
	if tl, _ := s.Timeline(t.Context(), "INC-Z"); len(tl) != 3 {
		t.Fatalf("timeline after rebuild: %d entries", len(tl))
	}
}

// ApplyNew (the projector's) equals Apply: it applies what is new, skips
// what is there, and records a command's result either way.
func TestSuiteStoreApplyNewSkipsWhatIsThere(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	v1 := lifecycle("INC-N", 1, event.Received, now, event.Hotline)
	if ok, err := s.Apply(ctx, v1); !ok || err != nil {
		t.Fatalf("Apply v1 = %v, %v", ok, err)
	}
	v2 := lifecycle("INC-N", 2, event.Dispatched, now.Add(time.Second), "")
	v2.CommandID = "CMD-N2"
	for i, tc := range []struct {
		lc   event.Lifecycle
		want bool
	}{{v1, false}, {v2, true}, {v2, false}} {
		ok, err := s.ApplyNew(ctx, tc.lc)
		if err != nil || ok != tc.want {
			t.Fatalf("ApplyNew %d (v%d) = %v, %v; want %v", i, tc.lc.Version, ok, err, tc.want)
		}
	}
	if res, err := s.Result(ctx, "CMD-N2"); err != nil || len(res) == 0 {
		t.Fatalf("command result %s %v", res, err)
	}
	// A command whose change is already there still gets its result recorded.
	if err := s.Client().Del(ctx, s.Client().Keys(ctx, "*cmdres:CMD-N2").Val()...).Err(); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ApplyNew(ctx, v2); ok || err != nil {
		t.Fatalf("ApplyNew v2 again = %v, %v", ok, err)
	}
	if res, err := s.Result(ctx, "CMD-N2"); err != nil || len(res) == 0 {
		t.Fatalf("command result after the skip %s %v", res, err)
	}
	if n, _ := s.Client().XLen(ctx, s.WallStream()).Result(); n != 2 {
		t.Fatalf("stream length %d, want 2 deltas", n)
	}
	if tl, _ := s.Timeline(ctx, "INC-N"); len(tl) != 2 {
		t.Fatalf("timeline %+v", tl)
	}
}

// ApplyAll equals Apply one by one: in order, duplicates inside a batch
// skipped, over several script calls.
func TestSuiteStoreApplyAllInBatches(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	var lcs []event.Lifecycle
	var want []bool
	n := redisstore.ApplyBatch*2 + 7
	for i := range n {
		id := fmt.Sprintf("INC-B%03d", i)
		lcs = append(lcs, lifecycle(id, 1, event.Received, now, event.Hotline), lifecycle(id, 2, event.Closed, now.Add(time.Second), ""))
		want = append(want, true, true)
		if i%50 == 0 { // delivered twice within the batch
			lcs = append(lcs, lifecycle(id, 2, event.Closed, now.Add(time.Second), ""))
			want = append(want, false)
		}
	}
	got, err := s.ApplyAll(ctx, lcs)
	if err != nil || len(got) != len(want) {
		t.Fatalf("ApplyAll: %d results, %v", len(got), err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("change %d (%s v%d): %v, want %v", i, lcs[i].IncidentID, lcs[i].Version, got[i], want[i])
		}
	}
	st, err := s.Stats(ctx, now)
	if err != nil || st.Today[event.Hotline] != n || st.Closed != n || st.Open != 0 {
		t.Fatalf("stats %+v %v", st, err)
	}
	// One delta per incident and script call: v1 only where its v2 fell
	// into the next call (ApplyBatch), v2 always, once.
	entries, _ := s.Client().XRange(ctx, s.WallStream(), "-", "+").Result()
	finals := map[string]int{}
	for _, e := range entries {
		var inc event.Incident
		_ = json.Unmarshal([]byte(fmt.Sprint(e.Values["data"])), &inc)
		if inc.Version == 2 {
			finals[inc.ID]++
		}
	}
	if len(finals) != n || len(entries) > n+(n*2/redisstore.ApplyBatch+1) {
		t.Fatalf("%d deltas, %d incidents with their last version, want %d", len(entries), len(finals), n)
	}
	for id, k := range finals {
		if k != 1 {
			t.Fatalf("%s: %d deltas of v2", id, k)
		}
	}
	if again, err := s.ApplyAll(ctx, lcs[:3]); err != nil || again[0] || again[1] || again[2] {
		t.Fatalf("replayed: %v %v", again, err)
	}
}

// The case cache gives what Cases gives, newest first, and decodes again
// only the incidents that changed; one that leaves the window leaves it.
func TestSuiteStoreCaseCacheRereadsOnlyChanges(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	for i := range 5 {
		if _, err := s.Apply(ctx, lifecycle(fmt.Sprintf("INC-%d", i), 1, event.Received, now.Add(time.Duration(i)*time.Second), event.Hotline)); err != nil {
			t.Fatal(err)
		}
	}
	decoded := 0
	c := redisstore.NewCaseCache(s, 4, false, func(r redisstore.CaseRow) string {
		decoded++
		return fmt.Sprintf("%s v%d %s", r.Incident.ID, r.Incident.Version, r.Incident.State)
	})
	load := func(want ...string) {
		t.Helper()
		got, err := c.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.Cases(ctx, false, 4)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || len(rows) != len(want) {
			t.Fatalf("loaded %q (Cases has %d), want %q", got, len(rows), want)
		}
		for i, r := range rows {
			if w := fmt.Sprintf("%s v%d %s", r.Incident.ID, r.Incident.Version, r.Incident.State); w != got[i] {
				t.Fatalf("row %d: cache %q, Cases %q", i, got[i], w)
			}
		}
	}
	load("INC-4 v1 received", "INC-3 v1 received", "INC-2 v1 received", "INC-1 v1 received")
	if decoded != 4 {
		t.Fatalf("first load decoded %d, want 4", decoded)
	}
	load("INC-4 v1 received", "INC-3 v1 received", "INC-2 v1 received", "INC-1 v1 received")
	if decoded != 4 {
		t.Fatalf("an unchanged window decoded %d more", decoded-4)
	}
	// INC-2 changes and becomes the newest.
	if _, err := s.Apply(ctx, lifecycle("INC-2", 2, event.Dispatched, now.Add(time.Minute), "")); err != nil {
		t.Fatal(err)
	}
	load("INC-2 v2 dispatched", "INC-4 v1 received", "INC-3 v1 received", "INC-1 v1 received")
	if decoded != 5 {
		t.Fatalf("one change decoded %d, want 1", decoded-4)
	}
	// A new incident pushes INC-1 out; INC-1 changing later brings it back,
	// decoded again.
	if _, err := s.Apply(ctx, lifecycle("INC-9", 1, event.Received, now.Add(2*time.Minute), event.Grid)); err != nil {
		t.Fatal(err)
	}
	load("INC-9 v1 received", "INC-2 v2 dispatched", "INC-4 v1 received", "INC-3 v1 received")
	if _, err := s.Apply(ctx, lifecycle("INC-1", 2, event.Closed, now.Add(3*time.Minute), "")); err != nil {
		t.Fatal(err)
	}
	load("INC-1 v2 closed", "INC-9 v1 received", "INC-2 v2 dispatched", "INC-4 v1 received")
	if decoded != 7 {
		t.Fatalf("decoded %d in all, want 7 (4 + INC-2 v2 + INC-9 + INC-1 v2)", decoded)
	}
}

// FuseAll decides a batch as the same events one Fuse call each would, in
// order (an event joins the incident an earlier one of the batch opened),
// across more than one script call, and a re-delivered event gets its
// first decision.
func TestSuiteStoreFuseAllDecidesAsOneByOne(t *testing.T) {
	one, all := testenv.Store(t), testenv.Store(t)
	ctx := t.Context()
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	var qs []redisstore.FuseQuery
	for i := range redisstore.FuseBatch + 30 {
		q := redisstore.FuseQuery{
			EventID: fmt.Sprintf("ev-%d", i), Family: []string{"fire", "road"}[i%2],
			// Clusters of five reports 20 m apart, clusters 2 km apart.
			Lon: 120.10 + float64(i/5)*0.02 + float64(i%5)*0.0002, Lat: 32.50,
			RadiusM: 200, Window: time.Hour, At: t0.Add(time.Duration(i) * time.Second), NewID: fmt.Sprintf("inc-%d", i),
		}
		if i%7 == 3 {
			q.At = t0.Add(-3 * time.Hour) // too old to join what is open now; opens its own
		}
		qs = append(qs, q)
	}
	qs = append(qs, qs[4], qs[40]) // re-delivered within the batch
	var want []redisstore.FuseResult
	for _, q := range qs {
		id, outcome, err := one.Fuse(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, redisstore.FuseResult{IncidentID: id, Outcome: outcome})
	}
	got, err := all.FuseAll(ctx, qs)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FuseAll:\n got %v\nwant %v", got, want)
	}
	joined, decided := 0, 0
	for _, r := range got {
		switch r.Outcome {
		case redisstore.FuseJoined:
			joined++
		case redisstore.FuseDecided:
			decided++
		}
	}
	if joined < 40 || decided != 2 {
		t.Errorf("joined %d, decided before %d: the batch does not exercise joining and re-delivery", joined, decided)
	}
	again, err := all.FuseAll(ctx, qs[:3])
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range again {
		if r.IncidentID != want[i].IncidentID || r.Outcome != redisstore.FuseDecided {
			t.Errorf("re-delivered %s: %+v, want %s decided before", qs[i].EventID, r, want[i].IncidentID)
		}
	}
	if got, err := all.FuseAll(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("an empty batch: %v, %v", got, err)
	}
}

// The fusion index is kept in cells: a report joins the nearest recent
// incident even across a cell border, an incident of the layout before the
// cells (the family's one set) is still found and leaves that set at its
// next change, and an incident leaves the index when it closes.
func TestSuiteStoreFusionIndexCells(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	now := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	const lat = 32.52
	fuse := func(ev string, lon, radius float64) (string, int) {
		t.Helper()
		id, outcome, err := s.Fuse(ctx, redisstore.FuseQuery{EventID: ev, Family: "fire", Lon: lon, Lat: lat, RadiusM: radius, Window: time.Hour, At: now, NewID: "INC-" + ev})
		if err != nil {
			t.Fatal(err)
		}
		return id, outcome
	}
	// The border between two cells runs at 120.10° (2402 × 0.05°).
	west, _ := fuse("W", 120.0996, 1) // ~37 m west of the border
	east, _ := fuse("E", 120.1002, 1) // ~19 m east of it
	if west == east {
		t.Fatal("two incidents 56 m apart opened with a 1 m radius were fused")
	}
	if id, outcome := fuse("P1", 120.09995, 300); id != east || outcome != redisstore.FuseJoined {
		t.Errorf("a report 5 m west of the border joined %s (outcome %d), want the nearest, %s, across it", id, outcome, east)
	}
	if id, _ := fuse("P2", 120.0997, 300); id != west {
		t.Errorf("a report 9 m from %s joined %s", west, id)
	}

	// An incident in the family's set of the old layout.
	prefix := strings.TrimSuffix(s.WallStream(), "rt:wall")
	rdb := s.Client()
	if err := rdb.GeoAdd(ctx, prefix+"fuse:fire:geo", &redis.GeoLocation{Name: "INC-OLD", Longitude: 120.2000, Latitude: lat}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, prefix+"fuse:fire:seen", redis.Z{Score: float64(now.UnixMilli()), Member: "INC-OLD"}).Err(); err != nil {
		t.Fatal(err)
	}
	if id, _ := fuse("P3", 120.2005, 300); id != "INC-OLD" {
		t.Errorf("a report 47 m from an incident of the old layout joined %s", id)
	}
	open := func(id string, v int, state event.State, lon float64) {
		t.Helper()
		lc := lifecycle(id, v, state, now, "")
		lc.Incident.Category = "emergency.fire"
		lc.Incident.Location = &event.Point{Lon: lon, Lat: lat}
		lc.Incident.LastSeen = now
		if _, err := s.Apply(ctx, lc); err != nil {
			t.Fatal(err)
		}
	}
	open("INC-OLD", 2, event.Dispatched, 120.2000)
	if n, err := rdb.Exists(ctx, prefix+"fuse:fire:geo").Result(); err != nil || n != 0 {
		t.Errorf("the old layout's set still there after its only incident changed (%d, %v)", n, err)
	}
	if id, _ := fuse("P4", 120.2004, 300); id != "INC-OLD" {
		t.Errorf("after its change, a report 38 m from the incident joined %s", id)
	}
	// Closed, it leaves the index: the next report nearby opens its own.
	open("INC-OLD", 3, event.Closed, 120.2000)
	if id, outcome := fuse("P5", 120.2003, 300); id == "INC-OLD" || outcome != redisstore.FuseNew {
		t.Errorf("a report near a closed incident joined %s (outcome %d)", id, outcome)
	}
	// Moved by a dispatcher (a corrected location in another cell), it is
	// found at the new place only.
	open(east, 2, event.Dispatched, 120.3000)
	if id, _ := fuse("P6", 120.1002, 50); id == east {
		t.Errorf("a report at the old place of a moved incident joined it")
	}
	if id, _ := fuse("P7", 120.3001, 50); id != east {
		t.Errorf("a report at the new place of a moved incident joined %s, want %s", id, east)
	}
}

// The timeline list keeps each change without the snapshots it carries on
// the tasks topic (incident, case, report): Timeline never returned them,
// and the incident's list of report ids made the list grow with the square
// of its fused reports. Entries stored with them (before) still read.
func TestSuiteStoreTimelineWithoutSnapshots(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	open := lifecycle("INC-T", 1, event.Received, now, event.Grid)
	open.Incident.EventIDs = []string{"EV-INC-T"}
	open.Case = []byte(`{"state":"received","version":1}`)
	open.Report = &event.Event{ID: "EV-INC-T", Source: event.Grid, Description: "井盖缺失"}
	open.Actor = event.Actor{ID: "system", Role: "system"}
	if _, err := s.Apply(ctx, open); err != nil {
		t.Fatal(err)
	}
	keys := []string{s.Prefix() + "tl:INC-T"}
	stored, err := s.Client().LRange(ctx, keys[0], 0, -1).Result()
	if err != nil || len(stored) != 1 {
		t.Fatalf("timeline list %v %v", stored, err)
	}
	for _, field := range []string{`"incident"`, `"case"`, `"report"`, "井盖缺失"} {
		if strings.Contains(stored[0], field) {
			t.Fatalf("stored entry carries %s: %s", field, stored[0])
		}
	}
	// An entry of the earlier format, with its snapshots, appended as the
	// script did then.
	old := lifecycle("INC-T", 2, event.Dispatched, now.Add(time.Second), "")
	old.Incident.EventIDs = []string{"EV-INC-T"}
	b, _ := json.Marshal(old)
	if err := s.Client().RPush(ctx, keys[0], b).Err(); err != nil {
		t.Fatal(err)
	}
	tl, err := s.Timeline(ctx, "INC-T")
	if err != nil || len(tl) != 2 {
		t.Fatalf("timeline %+v %v", tl, err)
	}
	if e := tl[0]; e.Version != 1 || e.To != event.Received || e.EventID != "EV-INC-T" || e.EventSource != event.Grid || e.Actor.ID != "system" || !e.At.Equal(now) {
		t.Fatalf("first entry %+v", e)
	}
	if tl[1].Version != 2 || tl[1].To != event.Dispatched || len(tl[1].Lifecycle.Incident.EventIDs) != 0 {
		t.Fatalf("old-format entry %+v", tl[1])
	}
	out, _ := json.Marshal(tl)
	if strings.Contains(string(out), `"incident":`) {
		t.Fatalf("timeline answer carries a snapshot: %s", out)
	}
}

// PruneClosed removes closed incidents last changed before the cutoff,
// with their timelines, reports, event links (of reports event_ids no
// longer lists too) and command results, and nothing else: not an
// open incident however old, not one closed since the cutoff, not a link
// of a report that moved to another incident; the counters keep counting.
func TestSuiteStorePruneClosed(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	old := now.Add(-40 * 24 * time.Hour)
	add := func(id string, v int, state event.State, at time.Time, events ...string) {
		t.Helper()
		lc := lifecycle(id, v, state, at, "")
		if v == 1 {
			lc.EventID, lc.EventSource = events[0], event.Hotline
			lc.Report = &event.Event{ID: events[0], Source: event.Hotline}
		}
		lc.Incident.EventIDs = events
		if _, err := s.Apply(ctx, lc); err != nil {
			t.Fatal(err)
		}
	}
	closeBy := func(id string, v int, at time.Time, command string) {
		t.Helper()
		lc := lifecycle(id, v, event.Closed, at, "")
		lc.Incident.EventIDs, lc.CommandID = []string{"EV-" + id}, command
		if _, err := s.Apply(ctx, lc); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Result(ctx, command); err != nil {
			t.Fatalf("result of %s: %v", command, err)
		}
	}
	for i := range 5 {
		id := fmt.Sprintf("INC-OLD%d", i)
		add(id, 1, event.Received, old, "EV-"+id)
		v := 2
		if i == 1 { // a report its event_ids no longer list (event.WithEventID)
			lc := lifecycle(id, 2, event.Received, old, "")
			lc.EventID, lc.EventSource = "EV-"+id+"-B", event.Hotline
			lc.Report, lc.Incident.EventIDs = &event.Event{ID: lc.EventID, Source: event.Hotline}, []string{"EV-" + id}
			if _, err := s.Apply(ctx, lc); err != nil {
				t.Fatal(err)
			}
			if inc, _ := s.IncidentOf(ctx, lc.EventID); inc != id {
				t.Fatalf("%s links to %q", lc.EventID, inc)
			}
			v = 3
		}
		closeBy(id, v, old.Add(time.Hour), "CMD-"+id)
	}
	add("INC-OPEN", 1, event.Received, old.Add(-time.Hour), "EV-INC-OPEN") // older still, and open
	add("INC-RECENT", 1, event.Received, old, "EV-INC-RECENT")
	closeBy("INC-RECENT", 2, now.Add(-time.Hour), "CMD-RECENT")
	// A report of INC-OLD0 that moved to INC-OPEN: its link is INC-OPEN's.
	if err := s.Client().Set(ctx, s.Prefix()+"evinc:EV-INC-OLD0", "INC-OPEN", 0).Err(); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Stats(ctx, old)

	n, err := s.PruneClosed(ctx, now.Add(-30*24*time.Hour), 3)
	if err != nil || n != 3 {
		t.Fatalf("first pass (limit 3): %d, %v", n, err)
	}
	n, err = s.PruneClosed(ctx, now.Add(-30*24*time.Hour), 1000)
	if err != nil || n != 2 {
		t.Fatalf("second pass: %d, %v", n, err)
	}
	for i := range 5 {
		id := fmt.Sprintf("INC-OLD%d", i)
		if _, err := s.Incident(ctx, id); !errors.Is(err, redisstore.ErrNotFound) {
			t.Fatalf("%s still there: %v", id, err)
		}
		if tl, _ := s.Timeline(ctx, id); len(tl) != 0 {
			t.Fatalf("%s timeline left: %v", id, tl)
		}
		if inc, _ := s.IncidentOf(ctx, "EV-"+id); i > 0 && inc != "" {
			t.Fatalf("EV-%s still links to %q", id, inc)
		}
	}
	if _, err := s.Result(ctx, "CMD-RECENT"); err != nil {
		t.Fatalf("the result of a command on a kept incident: %v", err)
	}
	if inc, _ := s.IncidentOf(ctx, "EV-INC-OLD0"); inc != "INC-OPEN" {
		t.Fatalf("a link to another incident was removed: %q", inc)
	}
	for _, id := range []string{"INC-OPEN", "INC-RECENT"} {
		if _, err := s.Incident(ctx, id); err != nil {
			t.Fatalf("%s removed: %v", id, err)
		}
		if tl, _ := s.Timeline(ctx, id); len(tl) == 0 {
			t.Fatalf("%s timeline removed", id)
		}
	}
	if _, total, _ := s.Incidents(ctx, redisstore.Query{}); total != 2 {
		t.Fatalf("%d incidents listed, want 2", total)
	}
	if after, _ := s.Stats(ctx, old); !reflect.DeepEqual(after, before) {
		t.Fatalf("counters changed: %+v, were %+v", after, before)
	}
	if keys, _ := s.Client().Keys(ctx, s.Prefix()+"*OLD*").Result(); len(keys) != 1 || !strings.HasSuffix(keys[0], "evinc:EV-INC-OLD0") {
		t.Fatalf("keys left behind: %v (want only the link that moved)", keys)
	}
}

// ReadAfter returns the entries after an id in order, both ways it reads:
// an XREAD (a real Redis) and backwards in chunks (a store that signals
// its writes, the embedded one).
func TestSuiteStoreReadAfter(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	stream := s.WallStream() + ":readafter"
	var ids []string
	for i := range 2500 {
		id, err := s.Client().XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []string{"n", fmt.Sprint(i)}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for _, local := range []bool{false, true} {
		st := s
		if local {
			st = s.WithLocalWakeups()
		}
		for _, tc := range []struct {
			after string
			count int64
			from  int // index of the first entry wanted
		}{
			{"0-0", 1000, 0},  // from the start: the oldest 1,000 of 2,500
			{ids[0], 1000, 1}, // after the first
			{ids[1999], 1000, 2000},
			{ids[2400], 1000, 2401},
			{ids[2499], 1000, 2500}, // nothing new
			{ids[10], 7, 11},
		} {
			got, err := st.ReadAfter(ctx, stream, tc.after, tc.count, -1)
			if err != nil {
				t.Fatal(err)
			}
			want := ids[tc.from:min(len(ids), tc.from+int(tc.count))]
			gotIDs := make([]string, len(got))
			for i, m := range got {
				gotIDs[i] = m.ID
			}
			if !reflect.DeepEqual(gotIDs, want) && (len(gotIDs) != 0 || len(want) != 0) {
				t.Fatalf("local=%v ReadAfter(%s, %d): %d entries from %v, want %d from %v", local, tc.after, tc.count,
					len(gotIDs), gotIDs[:min(1, len(gotIDs))], len(want), want[:min(1, len(want))])
			}
			if len(got) > 0 && got[0].Values["n"] != fmt.Sprint(tc.from) {
				t.Fatalf("local=%v: first entry %v, want n=%d", local, got[0].Values, tc.from)
			}
		}
	}
}

// The first and latest reports of an incident come from the ones it lists
// when they are enough, from all it has otherwise, and are the same either
// way.
func TestSuiteStoreFirstAndLatestReports(t *testing.T) {
	s := testenv.Store(t)
	ctx := t.Context()
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	var ids []string
	var lcs []event.Lifecycle
	for v := 1; v <= 120; v++ {
		lc := lifecycle("INC-S", v, event.Received, at.Add(time.Duration(v)*time.Second), event.Hotline)
		lc.EventID = fmt.Sprintf("EV-%03d", v)
		ids = append(ids, lc.EventID)
		lc.Report = &event.Event{ID: lc.EventID, Source: event.Hotline, ReceivedAt: lc.At}
		lc.Incident.EventCount, lc.Incident.EventIDs = v, event.FirstAndLatest(slices.Clone(ids), event.MaxEventIDs)
		lcs = append(lcs, lc)
	}
	if _, err := s.ApplyAll(ctx, lcs); err != nil {
		t.Fatal(err)
	}
	inc, err := s.Incident(ctx, "INC-S")
	if err != nil || len(inc.EventIDs) != event.MaxEventIDs {
		t.Fatalf("incident lists %d reports (%v)", len(inc.EventIDs), err)
	}
	all, err := s.Reports(ctx, "INC-S")
	if err != nil || len(all) != 120 {
		t.Fatalf("%d reports (%v)", len(all), err)
	}
	idsOf := func(evs []event.Event) []string {
		out := make([]string, len(evs))
		for i, ev := range evs {
			out[i] = ev.ID
		}
		return out
	}
	check := func(inc event.Incident, limit int) {
		t.Helper()
		got, total, err := s.FirstAndLatestReports(ctx, inc, limit)
		if err != nil || total != 120 {
			t.Fatalf("limit %d: total %d (%v)", limit, total, err)
		}
		want := all
		if limit > 0 {
			want = event.FirstAndLatest(all, limit)
		}
		if !slices.Equal(idsOf(got), idsOf(want)) {
			t.Fatalf("limit %d: %v, want %v", limit, idsOf(got), idsOf(want))
		}
	}
	for _, limit := range []int{0, 1, 20, 50, 51, 200} {
		check(inc, limit)
	}
	// Reports received together (one array) come in the order of their
	// references, on every read and both ways.
	var tied []event.Lifecycle
	for v, ref := range []string{"T-3", "T-1", "T-2"} {
		lc := lifecycle("INC-T", v+1, event.Received, at, event.Hotline)
		lc.EventID = "EV-" + ref
		lc.Report = &event.Event{ID: lc.EventID, Source: event.Hotline, SourceRef: ref, ReceivedAt: at}
		lc.Incident.EventIDs = []string{"EV-T-3", "EV-T-1", "EV-T-2"}[:v+1]
		tied = append(tied, lc)
	}
	if _, err := s.ApplyAll(ctx, tied); err != nil {
		t.Fatal(err)
	}
	tiedInc, _ := s.Incident(ctx, "INC-T")
	for _, limit := range []int{0, 2, 3} {
		got, _, err := s.FirstAndLatestReports(ctx, tiedInc, limit)
		want := []string{"EV-T-1", "EV-T-2", "EV-T-3"}
		if limit == 2 {
			want = []string{"EV-T-1", "EV-T-3"}
		}
		if err != nil || !slices.Equal(idsOf(got), want) {
			t.Fatalf("received together, limit %d: %v (%v), want %v", limit, idsOf(got), err, want)
		}
	}
	// A listed report no longer stored (split out meanwhile): read them all.
	if err := s.Client().HDel(ctx, s.Prefix()+"reports:INC-S", "EV-100").Err(); err != nil {
		t.Fatal(err)
	}
	all = slices.DeleteFunc(all, func(ev event.Event) bool { return ev.ID == "EV-100" })
	got, total, err := s.FirstAndLatestReports(ctx, inc, 20)
	if err != nil || total != 119 || !slices.Equal(idsOf(got), idsOf(event.FirstAndLatest(all, 20))) {
		t.Fatalf("after a split: %v of %d (%v)", idsOf(got), total, err)
	}
}

// The position stream keeps about its bound (Redis trims MAXLEN ~ by whole
// nodes, miniredis exactly), and a reader further behind than that gets
// the newest entries, not an error.
func TestSuiteStorePositionStreamBound(t *testing.T) {
	s := testenv.Store(t).WithPositionStreamMaxLen(50)
	ctx := t.Context()
	first, err := s.Client().XRevRangeN(ctx, s.PositionStream(), "+", "-", 1).Result()
	if err != nil {
		t.Fatal(err)
	}
	from := "0-0"
	if len(first) > 0 {
		from = first[0].ID
	}
	for i := range 400 {
		w := redisstore.WorkerPos{ID: fmt.Sprintf("gw-%d", i), Lon: 120.1, Lat: 30.2, OnDuty: true, At: time.Now()}
		if err := s.PutWorker(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.Client().XLen(ctx, s.PositionStream()).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n < 50 || n > 250 {
		t.Fatalf("position stream has %d entries, want about 50", n)
	}
	got, err := s.ReadAfter(ctx, s.PositionStream(), from, 1000, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != int(n) || !strings.Contains(got[len(got)-1].Values["data"].(string), `"gw-399"`) {
		t.Fatalf("a reader behind the bound got %d entries (the stream has %d), the last %v", len(got), n, got[len(got)-1].Values)
	}
}

// A snapshot of the embedded Redis keeps the projections and leaves out
// what is rebuilt, published again or transient at every start.
func TestSnapshottedKeys(t *testing.T) {
	s := redisstore.New(nil, "cb:", time.UTC)
	for key, want := range map[string]bool{
		"cb:inc:INC-1": true, "cb:inc:open": true, "cb:tl:INC-1": true, "cb:fuse:fire:cells": true,
		"cb:meta": false, "cb:rebuild": false, "cb:accounts": false, "cb:accounts:sum": false,
		"cb:lock:rebuild": false, "cb:ticket:abc": false, "other:inc:INC-1": false,
	} {
		if got := s.Snapshotted(key); got != want {
			t.Errorf("Snapshotted(%q) = %v, want %v", key, got, want)
		}
	}
}

// A store not built is restoring, with the rebuild's progress once the
// rebuilder records it; built, it is neither.
func TestSuiteStoreRebuildProgress(t *testing.T) {
	ctx := t.Context()
	s := testenv.Store(t)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if busy, prog, err := s.Restoring(ctx); !busy || prog != nil || err != nil {
		t.Fatalf("flushed: restoring %v, progress %v (%v)", busy, prog, err)
	}
	p := redisstore.RebuildProgress{Done: 15000, Total: 40000, Since: time.UnixMilli(time.Now().UnixMilli()).UTC()}
	if err := s.SetRebuildProgress(ctx, p); err != nil {
		t.Fatal(err)
	}
	if busy, prog, err := s.Restoring(ctx); !busy || prog == nil || *prog != p || prog.Percent() != 37 || err != nil {
		t.Fatalf("rebuilding: restoring %v, progress %+v (%v), want %+v", busy, prog, err, p)
	}
	if err := s.SetBuilt(ctx); err != nil {
		t.Fatal(err)
	}
	if busy, prog, err := s.Restoring(ctx); busy || prog != nil || err != nil {
		t.Fatalf("built: restoring %v, progress %v (%v)", busy, prog, err)
	}
	if (redisstore.RebuildProgress{}).Percent() != 100 {
		t.Error("nothing to replay is 100 %")
	}
}
