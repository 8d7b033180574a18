package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// WorkerTTL is how long a reported position counts: a worker whose phone
// has not reported for this long is not suggested. Only the latest position
// is kept (worker tracks are personal data: PIPL art. 28).
const WorkerTTL = 10 * time.Minute

// WorkerPos is a worker's latest position and duty status.
type WorkerPos struct {
	ID         string    `json:"id"`
	Name       string    `json:"name,omitempty"`
	Department string    `json:"department,omitempty"`
	Town       string    `json:"town,omitempty"` // code of the town the position is in (for scoped subscribers)
	Lon        float64   `json:"lon"`
	Lat        float64   `json:"lat"`
	OnDuty     bool      `json:"on_duty"`
	At         time.Time `json:"at"`
	DistanceM  float64   `json:"distance_m,omitempty"`
}

// PositionStreamMaxLen bounds the position stream (approximately): a few
// minutes of a large fleet; gateways read it within a second.
const PositionStreamMaxLen = 10000

// EmbeddedPositionStreamMaxLen bounds it on the embedded Redis, where every
// read of a stream copies all of it (miniredis's XREVRANGE; see ReadAfter):
// with 10,000 entries the gateway's reads took a seventh of the all-in-one
// process at 3,000 positions a second. There the gateway reads within 10 ms
// of each write (WithLocalWakeups), 1,000 entries are a third of a second
// at that rate, and a gateway further behind than that gets each worker's
// latest position with the worker's next report — positions are
// latest-only, never replayed (docs/realtime-protocol.md).
const EmbeddedPositionStreamMaxLen = 1000

// WithPositionStreamMaxLen sets the position stream's bound
// (EmbeddedPositionStreamMaxLen on the embedded Redis) and returns the store.
func (s *Store) WithPositionStreamMaxLen(n int) *Store {
	s.posMax = n
	return s
}

// PositionStream is the key of the stream of position changes that every
// gateway instance tails (see docs/realtime-protocol.md).
func (s *Store) PositionStream() string { return s.key("rt", "pos") }

// PutWorker records a worker's latest position and appends it to the
// position stream, in one transaction.
func (s *Store) PutWorker(ctx context.Context, w WorkerPos) error {
	data, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("encode position of %s: %w", w.ID, err)
	}
	pipe := s.rdb.TxPipeline()
	if w.OnDuty {
		pipe.GeoAdd(ctx, s.key("workers", "geo"), &redis.GeoLocation{Name: w.ID, Longitude: w.Lon, Latitude: w.Lat})
	} else {
		pipe.ZRem(ctx, s.key("workers", "geo"), w.ID)
	}
	pipe.HSet(ctx, s.key("worker", w.ID), "name", w.Name, "department", w.Department, "on_duty", strconv.FormatBool(w.OnDuty),
		"lon", w.Lon, "lat", w.Lat, "at", w.At.UTC().Format(time.RFC3339Nano), "town", w.Town)
	pipe.Expire(ctx, s.key("worker", w.ID), WorkerTTL)
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.PositionStream(), MaxLen: int64(s.posMax), Approx: true, Values: []any{"data", string(data)}})
	_, err = pipe.Exec(ctx)
	s.wrotePositions()
	return err
}

// Workers returns the on-duty workers whose position is fresh (WorkerTTL),
// in no particular order: the state a gateway starts from.
func (s *Store) Workers(ctx context.Context) ([]WorkerPos, error) {
	ids, err := s.rdb.ZRange(ctx, s.key("workers", "geo"), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.key("worker", id))
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("workers: %w", err)
		}
	}
	out := make([]WorkerPos, 0, len(ids))
	for i, id := range ids {
		info := cmds[i].Val()
		if len(info) == 0 || info["on_duty"] != "true" {
			continue // expired or off duty
		}
		out = append(out, workerFrom(id, info))
	}
	return out, nil
}

func workerFrom(id string, info map[string]string) WorkerPos {
	at, _ := time.Parse(time.RFC3339Nano, info["at"])
	lon, _ := strconv.ParseFloat(info["lon"], 64)
	lat, _ := strconv.ParseFloat(info["lat"], 64)
	return WorkerPos{ID: id, Name: info["name"], Department: info["department"], Town: info["town"], OnDuty: info["on_duty"] == "true", Lon: lon, Lat: lat, At: at}
}

// WorkersNear returns on-duty workers within radiusM metres of a point,
// nearest first, whose position is fresh (WorkerTTL).
func (s *Store) WorkersNear(ctx context.Context, lon, lat, radiusM float64, n int) ([]WorkerPos, error) {
	locs, err := s.rdb.GeoSearchLocation(ctx, s.key("workers", "geo"), &redis.GeoSearchLocationQuery{
		GeoSearchQuery: redis.GeoSearchQuery{Longitude: lon, Latitude: lat, Radius: radiusM, RadiusUnit: "m", Sort: "ASC", Count: n},
		WithDist:       true, WithCoord: true,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("workers near: %w", err)
	}
	var out []WorkerPos
	for _, l := range locs {
		info, err := s.rdb.HGetAll(ctx, s.key("worker", l.Name)).Result()
		if err != nil || len(info) == 0 {
			s.rdb.ZRem(ctx, s.key("workers", "geo"), l.Name) // expired: forget the position
			continue
		}
		at, _ := time.Parse(time.RFC3339Nano, info["at"])
		out = append(out, WorkerPos{ID: l.Name, Name: info["name"], Department: info["department"], OnDuty: info["on_duty"] == "true",
			Lon: l.Longitude, Lat: l.Latitude, At: at, DistanceM: l.Dist})
	}
	return out, nil
}

// Worker returns one worker's latest position, and false when it has none
// fresh (WorkerTTL).
func (s *Store) Worker(ctx context.Context, id string) (WorkerPos, bool, error) {
	info, err := s.rdb.HGetAll(ctx, s.key("worker", id)).Result()
	if err != nil {
		return WorkerPos{}, false, fmt.Errorf("worker %s: %w", id, err)
	}
	if len(info) == 0 {
		return WorkerPos{}, false, nil
	}
	return workerFrom(id, info), true, nil
}
