package redisstore_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/casestate"
	"github.com/citybrain-ioc/citybrain/services/dispatch"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/internal/testenv"
	"github.com/citybrain-ioc/citybrain/services/routing"
)

// A batch in which an incident changes twice (opened and dispatched, then a
// report joins) leaves exactly the keys that applying the changes one by
// one leaves — snapshot, case, indexes, fusion cells, counters, timeline,
// links, reports — except the delta stream, which carries the incident's
// last version of the batch only.
func TestSuiteStoreApplyAllSupersededChanges(t *testing.T) {
	rules, err := routing.Default(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	var lcs []event.Lifecycle
	for i := range 6 {
		ev := event.Event{Schema: event.Schema, ID: fmt.Sprintf("EV-%d", i), IncidentID: fmt.Sprintf("INC-%d", i%3), Source: event.Grid,
			SourceRef: fmt.Sprintf("R-%d", i), Category: "city.environment.garbage", CategoryName: "垃圾堆放", Severity: 4, Title: "t",
			ReceivedAt: at.Add(time.Duration(i) * time.Minute), Location: &event.Point{Lon: 120.1 + float64(i%3)*0.01, Lat: 32.5}}
		if i < 3 {
			lcs = append(lcs, dispatch.Open(ev, ev.ReceivedAt, rules)...) // received, then dispatched
			continue
		}
		var cur event.Incident
		for _, lc := range lcs {
			if lc.IncidentID == ev.IncidentID {
				cur = lc.Incident
			}
		}
		lcs = append(lcs, dispatch.AddReport(cur, casestateOf(t, lcs, ev.IncidentID), ev))
	}
	// INC-0's changes back to back; the others' apart.
	sort.SliceStable(lcs, func(i, j int) bool { return lcs[i].IncidentID == "INC-0" && lcs[j].IncidentID != "INC-0" })

	one, batch := testenv.Store(t), testenv.Store(t)
	ctx := t.Context()
	for _, lc := range lcs {
		if ok, err := one.ApplyNew(ctx, lc); err != nil || !ok {
			t.Fatalf("apply %s v%d: %v %v", lc.IncidentID, lc.Version, ok, err)
		}
	}
	res, err := batch.ApplyAll(ctx, lcs)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range res {
		if !ok {
			t.Fatalf("change %d not applied", i)
		}
	}
	a, b := testenv.Dump(t, ctx, one), testenv.Dump(t, ctx, batch)
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s:\n one by one %s\n in a batch %s", k, v, b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			t.Errorf("%s only in the batch's store", k)
		}
	}
	// A delta for each change not followed at once by a later one of its incident.
	want := 0
	for i, lc := range lcs {
		if i+1 == len(lcs) || lcs[i+1].IncidentID != lc.IncidentID {
			want++
		}
	}
	na, _ := one.Client().XLen(ctx, one.WallStream()).Result()
	nb, _ := batch.Client().XLen(ctx, batch.WallStream()).Result()
	if na != int64(len(lcs)) || nb != int64(want) || want >= len(lcs) {
		t.Fatalf("deltas: %d one by one, %d in the batch (want %d and %d)", na, nb, len(lcs), want)
	}
}

// casestateOf is the latest case state of incident id among lcs.
func casestateOf(t *testing.T, lcs []event.Lifecycle, id string) (c casestate.Case) {
	t.Helper()
	for _, lc := range lcs {
		if lc.IncidentID == id && len(lc.Case) > 0 {
			if err := json.Unmarshal(lc.Case, &c); err != nil {
				t.Fatal(err)
			}
		}
	}
	return c
}
