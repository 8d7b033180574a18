package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// CaseRow is an incident with its dispatcher case state (JSON), as KPI
// and SLA scans read them.
type CaseRow struct {
	Incident event.Incident
	Case     []byte
}

// Cases returns the most recently updated incidents (up to limit) with
// their case state; openOnly restricts to open incidents.
func (s *Store) Cases(ctx context.Context, openOnly bool, limit int) ([]CaseRow, error) {
	idx := s.key("inc", "updated")
	if openOnly {
		idx = s.key("inc", "open")
	}
	ids, err := s.rdb.ZRevRange(ctx, idx, 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, s.key("inc", id), "json", "case")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("load cases: %w", err)
	}
	out := make([]CaseRow, 0, len(ids))
	for _, c := range cmds {
		vals := c.Val()
		js, ok := vals[0].(string)
		if !ok {
			continue
		}
		var row CaseRow
		if err := wire.Unmarshal([]byte(js), &row.Incident); err != nil {
			return nil, fmt.Errorf("decode incident: %w", err)
		}
		if cs, ok := vals[1].(string); ok {
			row.Case = []byte(cs)
		}
		out = append(out, row)
	}
	return out, nil
}
