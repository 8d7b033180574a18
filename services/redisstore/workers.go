package redisstore

import (
	"context"
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
	Lon        float64   `json:"lon"`
	Lat        float64   `json:"lat"`
	OnDuty     bool      `json:"on_duty"`
	At         time.Time `json:"at"`
	DistanceM  float64   `json:"distance_m,omitempty"`
}

// PutWorker records a worker's latest position.
func (s *Store) PutWorker(ctx context.Context, w WorkerPos) error {
	pipe := s.rdb.TxPipeline()
	if w.OnDuty {
		pipe.GeoAdd(ctx, s.key("workers", "geo"), &redis.GeoLocation{Name: w.ID, Longitude: w.Lon, Latitude: w.Lat})
	} else {
		pipe.ZRem(ctx, s.key("workers", "geo"), w.ID)
	}
	pipe.HSet(ctx, s.key("worker", w.ID), "name", w.Name, "department", w.Department, "on_duty", strconv.FormatBool(w.OnDuty),
		"lon", w.Lon, "lat", w.Lat, "at", w.At.UTC().Format(time.RFC3339Nano))
	pipe.Expire(ctx, s.key("worker", w.ID), WorkerTTL)
	_, err := pipe.Exec(ctx)
	return err
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
