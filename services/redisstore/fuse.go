package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"math"
	"strconv"
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
		keys := make([]string, 0, 9*n)
		args := make([]any, 0, 1+7*n)
		args = append(args, ttl)
		for _, q := range qs[:n] {
			keys = append(keys, s.key("fuse", "ev", q.EventID), s.key("fuse", q.Family, "seen"),
				s.fuseCell(q.Family, q.Lon, q.Lat), s.key("fuse", q.Family, "cells"), s.key("fuse", q.Family, "geo"))
			before := len(keys)
			keys = s.fuseCellsNear(keys, q.Family, q.Lon, q.Lat, q.RadiusM)
			args = append(args, len(keys)-before, q.Lon, q.Lat, q.RadiusM, q.At.Add(-q.Window).UnixMilli(), q.NewID, q.At.UnixMilli())
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

// The fusion index holds the open incidents of each family in cells of
// FuseCellDeg degrees, a geo set per family and cell, so a search reads the
// few cells its circle touches instead of every open incident of the
// family: on the embedded Redis a GEOSEARCH measures the distance to every
// member of its set (a real Redis reads only the members near), and it was
// most of the embedded mode's CPU. A hash per family names each incident's
// cell, for its removal when it closes or moves (apply.lua). The one set
// per family of the layout before the cells ("geo") is still searched
// while it holds anything; its incidents leave it at their next change.
const FuseCellDeg = 0.05 // about 5.5 km north–south, 4.7 km east–west at 32°N

// fuseCell returns the key of the index cell holding (lon, lat).
func (s *Store) fuseCell(family string, lon, lat float64) string {
	return s.fuseCellKey(family, int(math.Floor(lon/FuseCellDeg)), int(math.Floor(lat/FuseCellDeg)))
}

func (s *Store) fuseCellKey(family string, x, y int) string {
	return s.key("fuse", family, "cell", strconv.Itoa(x)+","+strconv.Itoa(y))
}

// fuseCellsNear appends the keys of the cells a circle of radiusM metres
// around (lon, lat) touches: its bounding box, widened by 2 % so that no
// cell a GEOSEARCH of that radius could reach is missed.
func (s *Store) fuseCellsNear(dst []string, family string, lon, lat, radiusM float64) []string {
	dlat := radiusM * 1.02 / 111195 // metres per degree of latitude on Redis's sphere
	dlon := dlat / math.Cos(math.Min(math.Abs(lat)+dlat, 89)*math.Pi/180)
	x0, x1 := int(math.Floor((lon-dlon)/FuseCellDeg)), int(math.Floor((lon+dlon)/FuseCellDeg))
	y0, y1 := int(math.Floor((lat-dlat)/FuseCellDeg)), int(math.Floor((lat+dlat)/FuseCellDeg))
	for x := x0; x <= x1; x++ {
		for y := y0; y <= y1; y++ {
			dst = append(dst, s.fuseCellKey(family, x, y))
		}
	}
	return dst
}

// IncidentOf returns the incident an event was added to ("" if none yet).
func (s *Store) IncidentOf(ctx context.Context, eventID string) (string, error) {
	id, err := s.rdb.Get(ctx, s.key("evinc", eventID)).Result()
	if err == redis.Nil {
		return "", nil
	}
	return id, err
}
