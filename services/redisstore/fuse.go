package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed fuse.lua
var fuseLua string

var fuseScript = redis.NewScript(fuseLua)

// FuseQuery asks which open incident of a family an event joins.
type FuseQuery struct {
	EventID  string
	Family   string
	Lon, Lat float64 // WGS-84
	RadiusM  float64
	Window   time.Duration // the incident must have had a report this recently
	At       time.Time     // the event's time
	NewID    string        // the incident to open when none is near
}

// Fusion outcomes.
const (
	FuseNew     = 0 // opened NewID
	FuseJoined  = 1 // joined an open incident nearby
	FuseDecided = 2 // decided before (a re-delivered event): same answer
)

// Fuse decides atomically, once per event: a re-delivered event gets the
// same incident. The index holds open incidents per family; the projector
// removes closed ones.
func (s *Store) Fuse(ctx context.Context, q FuseQuery) (string, int, error) {
	res, err := s.FuseAll(ctx, []FuseQuery{q})
	if err != nil {
		return "", 0, err
	}
	return res[0].IncidentID, res[0].Outcome, nil
}

// FuseResult is the decision for one FuseQuery.
type FuseResult struct {
	IncidentID string
	Outcome    int // FuseNew, FuseJoined or FuseDecided
}

// FuseBatch is the most events FuseAll decides in one script call: the
// script holds Redis while it runs (each event is a GEOSEARCH), so a long
// batch goes in several calls.
const FuseBatch = 64

// FuseAll decides the events in order, as many Fuse calls would (an event
// sees the incidents the events before it opened), with one script call
// per FuseBatch events: one round trip instead of one per event, and on the
// embedded Redis one Lua state instead of one per event.
func (s *Store) FuseAll(ctx context.Context, qs []FuseQuery) ([]FuseResult, error) {
	out := make([]FuseResult, 0, len(qs))
	ttl := int((31 * 24 * time.Hour).Seconds())
	for len(qs) > 0 {
		n := min(len(qs), FuseBatch)
		keys := make([]string, 0, 3*n)
		args := make([]any, 0, 1+6*n)
		args = append(args, ttl)
		for _, q := range qs[:n] {
			keys = append(keys, s.key("fuse", "ev", q.EventID), s.key("fuse", q.Family, "geo"), s.key("fuse", q.Family, "seen"))
			args = append(args, q.Lon, q.Lat, q.RadiusM, q.At.Add(-q.Window).UnixMilli(), q.NewID, q.At.UnixMilli())
		}
		res, err := fuseScript.Run(ctx, s.rdb, keys, args...).Slice()
		if err != nil {
			return nil, fmt.Errorf("fuse %s (and %d more): %w", qs[0].EventID, n-1, err)
		}
		if len(res) != 2*n {
			return nil, fmt.Errorf("fuse %s: %d values for %d events", qs[0].EventID, len(res), n)
		}
		for i := 0; i < n; i++ {
			id, _ := res[2*i].(string)
			outcome, _ := res[2*i+1].(int64)
			out = append(out, FuseResult{IncidentID: id, Outcome: int(outcome)})
		}
		qs = qs[n:]
	}
	return out, nil
}

// IncidentOf returns the incident an event was added to ("" if none yet).
func (s *Store) IncidentOf(ctx context.Context, eventID string) (string, error) {
	id, err := s.rdb.Get(ctx, s.key("evinc", eventID)).Result()
	if err == redis.Nil {
		return "", nil
	}
	return id, err
}
