package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/services/event"
)

//go:embed prune.lua
var pruneLua string

var pruneScript = redis.NewScript(pruneLua)

// closedStates are the states PruneClosed removes incidents in.
var closedStates = func() string {
	var out []string
	for _, s := range []event.State{event.Rejected, event.Closed, event.Visited, event.Rated, event.Merged} {
		if s.Open() {
			panic("redisstore: " + string(s) + " is an open state")
		}
		out = append(out, string(s))
	}
	return strings.Join(out, ",")
}()

// PruneBatch is how many incidents one PruneClosed script call looks at.
const PruneBatch = 200

// PruneClosed removes from the read model up to limit closed incidents
// whose last change is before cutoff (their timelines, fused reports,
// event links and the results of their commands with them), oldest first, and returns how many it removed.
// The audit trail stays on the tasks topic, and the counters keep them.
// An incident that is open, or changed after cutoff, is never removed;
// concurrent callers are safe (each incident is checked inside the
// script). A rebuild from Kafka brings pruned incidents back until the
// next call.
func (s *Store) PruneClosed(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	removed, kept := 0, 0
	for removed < limit {
		// Those kept (open, or changed meanwhile) stay at the front: skip them.
		ids, err := s.rdb.ZRangeByScore(ctx, s.key("inc", "updated"), &redis.ZRangeBy{
			Min: "-inf", Max: "(" + strconv.FormatInt(cutoff.UnixMilli(), 10), Offset: int64(kept), Count: int64(min(PruneBatch, limit-removed))}).Result()
		if err != nil {
			return removed, fmt.Errorf("prune: list: %w", err)
		}
		if len(ids) == 0 {
			return removed, nil
		}
		keys := make([]string, 0, 2+3*len(ids))
		keys = append(keys, s.key("inc", "updated"), s.key("inc", "open"))
		args := make([]any, 0, 4+len(ids))
		args = append(args, cutoff.UnixMilli(), s.key("evinc", ""), closedStates, s.key("cmdres", ""))
		for _, id := range ids {
			keys = append(keys, s.key("inc", id), s.key("tl", id), s.key("reports", id))
			args = append(args, id)
		}
		n, err := pruneScript.Run(ctx, s.rdb, keys, args...).Int()
		if err != nil {
			return removed, fmt.Errorf("prune: %w", err)
		}
		removed += n
		kept += len(ids) - n
	}
	return removed, nil
}
