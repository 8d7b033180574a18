package realtime

// Worker positions (delta kind "positions"): the API appends every reported
// position to the Redis stream rt:pos (redisstore.PutWorker) in the same
// transaction that updates the GEO set. Every gateway instance tails that
// stream itself (XREAD, no consumer group), keeps the latest position of
// each worker in memory, and once a second sends each wall and dispatcher
// subscriber the workers that changed in its scope: one message per second
// at most, with the latest position of each worker, however often they
// report. A separate stream, not a new kind in rt:wall, because positions
// are many, short-lived and not part of the incident read model: they must
// not push incident deltas out of the resume buffer, nor be replayed on a
// resume (a resume gets the full set instead).

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// positionsEvery is how often changed positions go out (per client: at most
// one positions message per interval).
const positionsEvery = time.Second

// workerOut is one worker on the wire. Positions carry no personal data
// beyond the worker's name.
type workerOut struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Department string    `json:"department"`
	Lon        float64   `json:"lon"`
	Lat        float64   `json:"lat"`
	OnDuty     bool      `json:"on_duty"`
	At         time.Time `json:"at"`
	TaskID     string    `json:"task_id,omitempty"`
}

// positions is the gateway's view of the fleet. Lock order: Gateway.mu
// before positions.mu; the stream reader takes positions.mu alone.
type positions struct {
	mu      sync.Mutex
	cur     map[string]redisstore.WorkerPos // on-duty workers with a fresh position
	changed map[string]bool                 // since the last flush: worker id → still present
	town    map[string]string               // the town each worker was last sent in
	last    string                          // the last stream id read
	ttl     time.Duration
}

func newPositions() *positions {
	return &positions{cur: map[string]redisstore.WorkerPos{}, changed: map[string]bool{}, town: map[string]string{}, ttl: redisstore.WorkerTTL}
}

// put records a reported position.
func (p *positions) put(w redisstore.WorkerPos) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.cur[w.ID]; ok && w.At.Before(old.At) {
		return // an older report arriving late
	}
	if w.OnDuty {
		p.cur[w.ID] = w
	} else {
		delete(p.cur, w.ID)
	}
	p.changed[w.ID] = w.OnDuty
}

// expire forgets workers that have not reported for ttl.
func (p *positions) expire(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, w := range p.cur {
		if now.Sub(w.At) > p.ttl {
			delete(p.cur, id)
			p.changed[id] = false
		}
	}
}

// posChange is one worker in a flush: present (with its position) or gone
// (off duty, stale), with the town it was last sent in.
type posChange struct {
	w       redisstore.WorkerPos
	present bool
	oldTown string
}

// take returns the changes since the last call and forgets them.
func (p *positions) take() []posChange {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.changed) == 0 {
		return nil
	}
	out := make([]posChange, 0, len(p.changed))
	for id, present := range p.changed {
		ch := posChange{present: present, oldTown: p.town[id]}
		if w, ok := p.cur[id]; ok && present {
			ch.w = w
			p.town[id] = w.Town
		} else {
			ch.w = redisstore.WorkerPos{ID: id}
			ch.present = false
			delete(p.town, id)
		}
		out = append(out, ch)
	}
	clear(p.changed)
	sort.Slice(out, func(i, j int) bool { return out[i].w.ID < out[j].w.ID })
	return out
}

// all returns the current workers in scope town ("" for all), by id.
func (p *positions) all(town string) []redisstore.WorkerPos {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]redisstore.WorkerPos, 0, len(p.cur))
	for _, w := range p.cur {
		if town == "" || w.Town == town {
			out = append(out, w)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// positionsData encodes the data of a positions message. taskOf gives a
// worker's current task (the caller holds Gateway.mu).
func positionsData(ws []redisstore.WorkerPos, removed []string, full bool, taskOf func(string) string) string {
	out := struct {
		Workers []workerOut `json:"workers"`
		Removed []string    `json:"removed,omitempty"`
		Full    bool        `json:"full"`
	}{Workers: make([]workerOut, 0, len(ws)), Removed: removed, Full: full}
	for _, w := range ws {
		out.Workers = append(out.Workers, workerOut{ID: w.ID, Name: w.Name, Department: w.Department, Lon: w.Lon, Lat: w.Lat, OnDuty: w.OnDuty, At: w.At, TaskID: taskOf(w.ID)})
	}
	return string(mustJSON(out)) // encoding/json replaces invalid UTF-8 with U+FFFD
}

// workersJSON is the "workers" array of a snapshot in scope town ("" for
// all).
func (g *Gateway) workersJSON(town string) string {
	ws := g.pos2.all(town)
	g.mu.Lock()
	d := positionsData(ws, nil, true, g.taskOfLocked)
	g.mu.Unlock()
	var v struct {
		Workers json.RawMessage `json:"workers"`
	}
	_ = json.Unmarshal([]byte(d), &v)
	return string(v.Workers)
}

func (g *Gateway) taskOfLocked(worker string) string { return g.workerTask[worker] }

// fullPositionsLocked returns a full positions message for c on ch, or nil
// when there is nothing to send (no workers in its scope, or the worker
// channel, which gets no positions).
func (g *Gateway) fullPositionsLocked(c *client, ch channel) *frame {
	if ch == chWorker {
		return nil
	}
	town := ""
	if ch == chDispatcher {
		town = c.viewer.scope
	}
	ws := g.pos2.all(town)
	if len(ws) == 0 {
		return nil
	}
	return &frame{b: deltaFrame(ch, g.pos.String(), "positions", positionsData(ws, nil, true, g.taskOfLocked)), ch: ch, seq: g.pos}
}

// positionsLoop tails the position stream and flushes the changes once per
// positionsEvery until ctx ends.
func (g *Gateway) positionsLoop(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(positionsEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			g.pos2.expire(time.Now())
			g.flushPositions()
		}
	}()
	stream := g.store.PositionStream()
	for ctx.Err() == nil {
		g.pos2.mu.Lock()
		from := g.pos2.last
		g.pos2.mu.Unlock()
		written := g.store.PositionsWritten()
		msgs, err := g.store.ReadAfter(ctx, stream, from, 1000, g.readBlock(written))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			g.log.Warn("realtime: position stream read failed", "err", err)
			sleep(ctx, 500*time.Millisecond)
			continue
		}
		if len(msgs) == 0 {
			g.awaitWrite(ctx, written)
			continue
		}
		for _, m := range msgs {
			g.pos2.mu.Lock()
			g.pos2.last = m.ID
			g.pos2.mu.Unlock()
			data, _ := m.Values["data"].(string)
			var w redisstore.WorkerPos
			if err := json.Unmarshal([]byte(data), &w); err != nil || w.ID == "" {
				g.metrics.problems.WithLabelValues("bad_position").Inc()
				continue
			}
			g.pos2.put(w)
		}
	}
}

// startPositions positions the reader at the end of the stream, then loads
// the current fleet from the GEO set (so nothing between the two is lost:
// a position read twice is harmless). It reports false when ctx ended.
func (g *Gateway) startPositions(ctx context.Context) bool {
	for {
		last := "0-0"
		top, err := g.store.Client().XRevRangeN(ctx, g.store.PositionStream(), "+", "-", 1).Result()
		if err == nil && len(top) > 0 {
			last = top[0].ID
		}
		var ws []redisstore.WorkerPos
		if err == nil {
			ws, err = g.store.Workers(ctx)
		}
		if err == nil {
			g.pos2.mu.Lock()
			g.pos2.last = last
			g.pos2.mu.Unlock()
			now := time.Now()
			for _, w := range ws {
				if now.Sub(w.At) <= g.pos2.ttl {
					g.pos2.put(w)
				}
			}
			g.pos2.take() // the start-up state is not news: snapshots carry it
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		g.log.Warn("realtime: cannot load worker positions", "err", err)
		sleep(ctx, time.Second)
	}
}

// flushPositions sends the changes since the last flush: to wall
// subscribers and unscoped dispatchers every change, to a town's
// dispatchers the workers now in their town and, as "removed", those that
// left it. Workers that went off duty or stopped reporting are "removed".
func (g *Gateway) flushPositions() {
	changes := g.pos2.take()
	if len(changes) == 0 {
		return
	}
	var wake []*client
	g.mu.Lock()
	push := func(set map[*client]struct{}, f *frame) {
		for c := range set {
			if c.push(f) {
				wake = append(wake, c)
			}
		}
	}
	seq := g.pos
	build := func(ch channel, keep func(posChange) (present, removed bool)) *frame {
		var ws []redisstore.WorkerPos
		var rm []string
		for _, x := range changes {
			p, r := keep(x)
			if p {
				ws = append(ws, x.w)
			} else if r {
				rm = append(rm, x.w.ID)
			}
		}
		if len(ws) == 0 && len(rm) == 0 {
			return nil
		}
		return &frame{b: deltaFrame(ch, seq.String(), "positions", positionsData(ws, rm, false, g.taskOfLocked)), ch: ch, seq: seq}
	}
	everything := func(x posChange) (bool, bool) { return x.present, !x.present }
	if len(g.idx.wall) > 0 {
		if f := build(chWall, everything); f != nil {
			push(g.idx.wall, f)
		}
	}
	if len(g.idx.dispAll) > 0 {
		if f := build(chDispatcher, everything); f != nil {
			push(g.idx.dispAll, f)
		}
	}
	if len(g.idx.dispTown) > 0 {
		towns := map[string]bool{}
		for _, x := range changes {
			if x.present && x.w.Town != "" {
				towns[x.w.Town] = true
			}
			if x.oldTown != "" {
				towns[x.oldTown] = true
			}
		}
		for town := range towns {
			set := g.idx.dispTown[town]
			if len(set) == 0 {
				continue
			}
			f := build(chDispatcher, func(x posChange) (bool, bool) {
				in := x.present && x.w.Town == town
				return in, !in && x.oldTown == town
			})
			if f != nil {
				push(set, f)
			}
		}
	}
	g.mu.Unlock()
	for _, c := range wake {
		c.startWriter()
	}
}
