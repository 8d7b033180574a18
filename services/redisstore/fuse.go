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
	keys := []string{s.key("fuse", "ev", q.EventID), s.key("fuse", q.Family, "geo"), s.key("fuse", q.Family, "seen")}
	res, err := fuseScript.Run(ctx, s.rdb, keys, q.Lon, q.Lat, q.RadiusM, q.At.Add(-q.Window).UnixMilli(), q.NewID,
		q.At.UnixMilli(), int((31 * 24 * time.Hour).Seconds())).Slice()
	if err != nil {
		return "", 0, fmt.Errorf("fuse %s: %w", q.EventID, err)
	}
	id, _ := res[0].(string)
	outcome, _ := res[1].(int64)
	return id, int(outcome), nil
}

// IncidentOf returns the incident an event was added to ("" if none yet).
func (s *Store) IncidentOf(ctx context.Context, eventID string) (string, error) {
	id, err := s.rdb.Get(ctx, s.key("evinc", eventID)).Result()
	if err == redis.Nil {
		return "", nil
	}
	return id, err
}
