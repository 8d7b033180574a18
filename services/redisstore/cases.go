package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

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
	ids, err := s.caseIDs(ctx, openOnly, limit)
	if err != nil {
		return nil, err
	}
	rows, _, _, err := s.casesByID(ctx, ids)
	return rows, err
}

func (s *Store) caseIDs(ctx context.Context, openOnly bool, limit int) ([]string, error) {
	idx := s.key("inc", "updated")
	if openOnly {
		idx = s.key("inc", "open")
	}
	ids, err := s.rdb.ZRevRange(ctx, idx, 0, int64(limit-1)).Result()
	if err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	return ids, nil
}

// casesByID reads and decodes the cases of ids, in order, with the id and
// the version each was read at; an id without an incident is skipped.
func (s *Store) casesByID(ctx context.Context, ids []string) ([]CaseRow, []string, []int64, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(ctx, s.key("inc", id), "json", "case", "version")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, nil, nil, fmt.Errorf("load cases: %w", err)
	}
	out := make([]CaseRow, 0, len(ids))
	got := make([]string, 0, len(ids))
	versions := make([]int64, 0, len(ids))
	for i, c := range cmds {
		vals := c.Val()
		js, ok := vals[0].(string)
		if !ok {
			continue
		}
		var row CaseRow
		if err := wire.Unmarshal([]byte(js), &row.Incident); err != nil {
			return nil, nil, nil, fmt.Errorf("decode incident: %w", err)
		}
		if cs, ok := vals[1].(string); ok {
			row.Case = []byte(cs)
		}
		v, _ := vals[2].(string)
		n, _ := strconv.ParseInt(v, 10, 64)
		out = append(out, row)
		got = append(got, ids[i])
		versions = append(versions, n)
	}
	return out, got, versions, nil
}

// CaseCache keeps the newest cases (by last update) decoded, as the KPI
// scans of the API and the realtime gateway read them, and on each Load
// reads again only the incidents whose version changed. Reading and
// decoding all of them every time (20,000 at kpi.Window) cost the gateway a
// burst of ~150 ms of CPU and a third of its allocations every 10 s, which
// showed in the latency of everything it delivers.
type CaseCache[T any] struct {
	s        *Store
	limit    int
	openOnly bool
	conv     func(CaseRow) T // what is kept per case (e.g. a kpi.Case), made once per version

	mu   sync.Mutex
	byID map[string]cachedCase[T]
}

type cachedCase[T any] struct {
	version int64
	value   T
}

// NewCaseCache returns a cache of the newest limit cases of s (openOnly:
// of the open ones, as Cases), each kept as conv makes it.
func NewCaseCache[T any](s *Store, limit int, openOnly bool, conv func(CaseRow) T) *CaseCache[T] {
	return &CaseCache[T]{s: s, limit: limit, openOnly: openOnly, conv: conv, byID: map[string]cachedCase[T]{}}
}

// Load returns the newest cases, newest first, as conv made them: the
// index and every incident's version are read each time (small replies),
// the incident and its case only when its version changed. A case that
// left the window leaves the cache. The slice is the caller's.
func (c *CaseCache[T]) Load(ctx context.Context) ([]T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids, err := c.s.caseIDs(ctx, c.openOnly, c.limit)
	if err != nil {
		return nil, err
	}
	pipe := c.s.rdb.Pipeline()
	vcmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		vcmds[i] = pipe.HGet(ctx, c.s.key("inc", id), "version")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("case versions: %w", err)
	}
	var stale []string
	for i, id := range ids {
		v, _ := strconv.ParseInt(vcmds[i].Val(), 10, 64)
		cc, ok := c.byID[id]
		switch {
		case v == 0:
			delete(c.byID, id) // indexed but not stored (a flush racing the read): not a case now
		case !ok || cc.version != v:
			stale = append(stale, id)
		}
	}
	if len(stale) > 0 {
		rows, got, versions, err := c.s.casesByID(ctx, stale)
		if err != nil {
			return nil, err
		}
		for i, r := range rows {
			c.byID[got[i]] = cachedCase[T]{version: versions[i], value: c.conv(r)}
		}
	}
	out := make([]T, 0, len(ids))
	keep := make(map[string]cachedCase[T], len(ids))
	for _, id := range ids {
		if cc, ok := c.byID[id]; ok {
			out = append(out, cc.value)
			keep[id] = cc
		}
	}
	c.byID = keep
	return out, nil
}
