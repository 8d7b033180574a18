package realtime

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// The wall's mode is in the wall snapshot and its changes are relayed on
// the wall channel only.
func TestWallModeRelayedToTheWallOnly(t *testing.T) {
	store := newStore(t)
	ctx := context.Background()
	if _, err := store.ChangeWallMode(ctx, redisstore.ModeSet, redisstore.WallMode{Mode: "emergency", IncidentID: "M1", By: "d", Since: time.Now().UTC()}, ""); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, store, nil)
	wall := e.dial(viewerClaims)
	subscribe(t, wall, "wall", "")
	snap := next(t, wall)
	var sd struct {
		Mode redisstore.WallMode `json:"mode"`
	}
	if err := json.Unmarshal(snap.Data, &sd); err != nil || sd.Mode.Mode != "emergency" || sd.Mode.IncidentID != "M1" {
		t.Fatalf("wall snapshot mode: %s", snap.raw)
	}
	disp := e.dial(auth.Claims{Subject: "d", Role: auth.Dispatcher})
	subscribe(t, disp, "dispatcher", "")
	if m := next(t, disp); m.Type != "snapshot" || strings.Contains(string(m.raw), `"mode"`) {
		t.Fatalf("dispatcher snapshot: %s", m.raw)
	}

	if _, err := store.ChangeWallMode(ctx, redisstore.ModeSet, redisstore.WallMode{Mode: "normal", By: "d", Since: time.Now().UTC()}, ""); err != nil {
		t.Fatal(err)
	}
	apply(t, store, "AFTER", 1, scope{}, event.Filed, "")
	m := next(t, wall)
	if m.Type != "delta" || m.Kind != "mode" || !strings.Contains(string(m.Data), `"mode":"normal"`) {
		t.Fatalf("mode delta: %s", m.raw)
	}
	seq := m.Seq
	if m := next(t, wall); m.Kind != "incident" || m.inc(t).ID != "AFTER" {
		t.Fatalf("after the mode: %s", m.raw)
	}
	// The dispatcher gets the incident, not the mode.
	if m := next(t, disp); m.Kind != "incident" || m.inc(t).ID != "AFTER" {
		t.Fatalf("dispatcher after the mode: %s", m.raw)
	}
	// A resume from before the change replays it; the snapshot cache,
	// advanced past it, still has no incident "mode".
	w2 := e.dial(viewerClaims)
	subscribe(t, w2, "wall", snap.Seq)
	if m := next(t, w2); m.Kind != "mode" || m.Seq != seq {
		t.Fatalf("resume: %s", m.raw)
	}
	time.Sleep(snapshotReuse + 50*time.Millisecond) // past the reuse window: the cache is advanced
	w3 := e.dial(viewerClaims)
	subscribe(t, w3, "wall", "")
	s3 := next(t, w3)
	if ids := strings.Join(s3.snapshotIDs(t), ","); ids != "AFTER" || !strings.Contains(string(s3.Data), `"mode":{"mode":"normal"`) {
		t.Fatalf("snapshot after the change: %s", s3.raw)
	}
}

// The stats carry the KPIs of the wall's tiles, like GET /api/v1/stats/kpi.
func TestStatsCarryTheKPIs(t *testing.T) {
	store := newStore(t)
	apply(t, store, "K1", 1, scope{}, event.Filed, "")
	apply(t, store, "K2", 1, scope{}, event.Closed, "")
	e := newEnv(t, store, nil)
	ws := e.dial(viewerClaims)
	subscribe(t, ws, "wall", "")
	snap := next(t, ws)
	var sd struct {
		Stats struct {
			Open int `json:"open"`
			KPI  *struct {
				Total   int      `json:"total"`
				Open    int      `json:"open"`
				Overdue int      `json:"overdue"`
				OnTime  *float64 `json:"on_time_close"`
			} `json:"kpi"`
		} `json:"stats"`
	}
	if err := json.Unmarshal(snap.Data, &sd); err != nil || sd.Stats.Open != 1 || sd.Stats.KPI == nil || sd.Stats.KPI.Total != 2 || sd.Stats.KPI.Open != 1 {
		t.Fatalf("snapshot stats: %s", snap.raw)
	}
	apply(t, store, "K3", 1, scope{}, event.Filed, "")
	for {
		m := read(t, ws)
		if m.Kind == "stats" {
			if !strings.Contains(string(m.Data), `"kpi":{`) || !strings.Contains(string(m.Data), `"open":2`) {
				t.Fatalf("stats delta: %s", m.raw)
			}
			break
		}
	}
}
