package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// Snapshots are shared: a cache holds the newest incidents (the wall's)
// or the open ones (what dispatcher and worker snapshots are filtered
// from) as of a stream position. A subscriber within snapshotReuse of the
// last one gets the same snapshot plus the few deltas after it; later ones
// get it advanced in memory with the deltas of the resume buffer; Redis is
// read again only every snapshotRebuild, after a reset, or when the buffer
// no longer reaches back to the snapshot. A reconnect storm of thousands of
// clients therefore costs a few Redis reads, not thousands.
const (
	snapshotReuse   = 100 * time.Millisecond
	snapshotRebuild = 30 * time.Second
)

type snapInc struct {
	id    string
	scope scope
	task  string
	raw   string // the incident's JSON
}

// snapshot is immutable once built.
type snapshot struct {
	gen   uint64
	seq   streamID  // the state reflects every delta up to seq (and maybe some after)
	incs  []snapInc // newest change first
	built time.Time // read from Redis
	at    time.Time // last advanced
	wall  []byte    // the wall's frame (wall cache only)
}

// frameFor returns the snapshot message for c on ch: the shared wall frame,
// or the incidents c may see on a scoped channel.
func (s *snapshot) frameFor(c *client, ch channel) *frame {
	if ch == chWall {
		return &frame{b: s.wall, ch: ch}
	}
	b := make([]byte, 0, 256)
	b = fmt.Appendf(b, `{"type":"snapshot","channel":%q,"seq":%q,"data":{"incidents":[`, ch.String(), s.seq.String())
	n := 0
	for i := range s.incs {
		if c.viewer.sees(ch, s.incs[i].scope) {
			if n > 0 {
				b = append(b, ',')
			}
			b = append(b, s.incs[i].raw...)
			n++
		}
	}
	b = append(b, ']')
	if ch == chDispatcher {
		b = append(b, `,"workers":`...)
		b = append(b, c.g.workersJSON(c.viewer.scope)...)
	}
	b = append(b, "}}"...)
	return &frame{b: textFrame(b), ch: ch}
}

func wallFrame(seq streamID, incs []snapInc, stats, workers, mode string) []byte {
	n := 0
	for i := range incs {
		n += len(incs[i].raw) + 1
	}
	b := make([]byte, 0, n+len(stats)+128)
	b = fmt.Appendf(b, `{"type":"snapshot","channel":"wall","seq":%q,"data":{"incidents":[`, seq.String())
	for i := range incs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, incs[i].raw...)
	}
	b = append(b, `],"stats":`...)
	b = append(b, stats...)
	b = append(b, `,"workers":`...)
	b = append(b, workers...)
	b = append(b, `,"mode":`...)
	b = append(b, mode...)
	b = append(b, "}}"...)
	return textFrame(b)
}

type flight struct {
	done chan struct{}
	snap *snapshot
	err  error
}

// snapCache is one shared snapshot. It is safe for concurrent use.
type snapCache struct {
	open bool // open incidents only (every snapshot now; a cache could hold the newest of all)
	wall bool // the wall's: with the stats, workers and mode

	mu     sync.Mutex
	cur    *snapshot
	flight *flight
}

func (sc *snapCache) limit() int { return snapshotLimit }

func (sc *snapCache) invalidate() {
	sc.mu.Lock()
	sc.cur = nil
	sc.mu.Unlock()
}

// get returns a recent snapshot; fresh forces one at the current position.
func (sc *snapCache) get(ctx context.Context, g *Gateway, fresh bool) (*snapshot, error) {
	sc.mu.Lock()
	if cur := sc.cur; cur != nil {
		if !fresh && time.Since(cur.at) < snapshotReuse {
			sc.mu.Unlock()
			return cur, nil
		}
		if time.Since(cur.built) < snapshotRebuild {
			if next := sc.advance(g, cur); next != nil {
				sc.cur = next
				sc.mu.Unlock()
				return next, nil
			}
		}
	}
	f := sc.flight
	if f == nil {
		f = &flight{done: make(chan struct{})}
		sc.flight = f
		go func() {
			// Detached from the caller: others wait for the same read.
			bctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			f.snap, f.err = sc.build(bctx, g)
			sc.mu.Lock()
			if f.err == nil {
				sc.cur = f.snap
			}
			sc.flight = nil
			sc.mu.Unlock()
			close(f.done)
		}()
	}
	sc.mu.Unlock()
	select {
	case <-f.done:
		return f.snap, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// build reads the snapshot from Redis. The position is taken first, so
// the state read is at least as new as it.
func (sc *snapCache) build(ctx context.Context, g *Gateway) (*snapshot, error) {
	g.mu.Lock()
	at, gen := g.pos, g.gen
	g.mu.Unlock()
	list, _, err := g.store.Incidents(ctx, redisstore.Query{OpenOnly: sc.open, Limit: sc.limit()})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	s := &snapshot{gen: gen, seq: at, built: now, at: now, incs: make([]snapInc, 0, len(list))}
	for i := range list {
		raw, err := json.Marshal(&list[i])
		if err != nil {
			continue // cannot happen: incidents are validated at ingest (no NaN)
		}
		m := metaOf(&list[i])
		s.incs = append(s.incs, snapInc{id: list[i].ID, scope: m.scope, task: m.task, raw: string(raw)})
	}
	if sc.wall {
		stats, err := g.statsJSON(ctx, now)
		if err != nil {
			return nil, err
		}
		g.lastStats.Store(&stats)
		m, err := g.store.GetWallMode(ctx)
		if err != nil {
			return nil, err
		}
		mode := string(mustJSON(m))
		g.lastMode.Store(&mode)
		s.wall = wallFrame(at, s.incs, stats, g.workersJSON(""), mode)
	}
	return s, nil
}

// advance returns cur brought up to the broadcast position with the
// deltas in the resume buffer, or nil when the buffer does not reach back
// to it (or the projections were reset since).
func (sc *snapCache) advance(g *Gateway, cur *snapshot) *snapshot {
	g.mu.Lock()
	if cur.gen != g.gen || !g.resumableLocked(cur.seq) {
		g.mu.Unlock()
		return nil
	}
	from := g.ring.n
	if cur.seq != g.pos {
		from = g.ring.index(cur.seq) + 1
	}
	es := make([]*entry, 0, g.ring.n-from)
	for i := from; i < g.ring.n; i++ {
		if e := g.ring.at(i); e.ok && !e.wall {
			es = append(es, e)
		}
	}
	at := g.pos
	g.mu.Unlock()

	// Newest first: the changed incidents (latest state of each), then
	// the rest of the old list.
	changed := make(map[string]struct{}, len(es))
	incs := make([]snapInc, 0, sc.limit())
	for i := len(es) - 1; i >= 0; i-- {
		e := es[i]
		if _, ok := changed[e.meta.id]; ok {
			continue
		}
		changed[e.meta.id] = struct{}{}
		if (!sc.open || e.meta.open) && len(incs) < sc.limit() {
			incs = append(incs, snapInc{id: e.meta.id, scope: e.meta.scope, task: e.meta.task, raw: e.data})
		}
	}
	for _, x := range cur.incs {
		if len(incs) >= sc.limit() {
			break
		}
		if _, ok := changed[x.id]; !ok {
			incs = append(incs, x)
		}
	}
	s := &snapshot{gen: cur.gen, seq: at, built: cur.built, at: time.Now(), incs: incs}
	if sc.wall {
		stats := "{}"
		if p := g.lastStats.Load(); p != nil {
			stats = *p
		}
		s.wall = wallFrame(at, incs, stats, g.workersJSON(""), g.modeJSON())
	}
	return s
}

// modeJSON is the wall's latest mode as JSON (normal until one is known).
func (g *Gateway) modeJSON() string {
	if p := g.lastMode.Load(); p != nil {
		return *p
	}
	return `{"mode":"normal","incident_id":"","reason":"","by":"","auto":false}`
}
