package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// entry is one entry of the delta stream, decoded once. Its frames are
// built on first use, per channel, and kept for resumes; everything is
// guarded by Gateway.mu after the entry is in the ring.
type entry struct {
	seq  streamID
	kind string
	data string  // valid UTF-8 and JSON when ok
	ok   bool    // relayed; false for entries that are skipped (but still occupy their position)
	meta incMeta // ok only
	wall bool    // a wall-only entry (the wall's mode), not an incident
	prev scope   // the incident's scope at its previous delta …
	hasP bool    // … when known
	size int

	frames  [numChannels]*frame
	removes [numChannels]*frame
}

func (e *entry) frame(ch channel) *frame {
	if e.frames[ch] == nil {
		e.frames[ch] = (&frame{b: deltaFrame(ch, e.seq.String(), e.kind, e.data), ch: ch, seq: e.seq}).keyed(e.meta.id)
	}
	return e.frames[ch]
}

func (e *entry) remove(ch channel) *frame {
	if e.removes[ch] == nil {
		e.removes[ch] = (&frame{b: deltaFrame(ch, e.seq.String(), "remove", removeData(e.meta.id, e.meta.version)), ch: ch, seq: e.seq}).keyed(e.meta.id)
	}
	return e.removes[ch]
}

// newEntry decodes a stream message. It never relays invalid UTF-8 (it is
// replaced by U+FFFD), invalid JSON, or a kind it does not know (deny by
// default: a new kind may carry what some role must not see). It returns
// nil for a message without a valid id.
func (g *Gateway) newEntry(m redis.XMessage) *entry {
	id, ok := parseID(m.ID)
	if !ok {
		g.metrics.problems.WithLabelValues("bad_id").Inc()
		return nil
	}
	e := &entry{seq: id, size: 200}
	kind, _ := m.Values["kind"].(string)
	data, _ := m.Values["data"].(string)
	if kind == "mode" {
		// The wall's mode: relayed on the wall channel only, as it is.
		if !utf8.ValidString(data) || !json.Valid([]byte(data)) {
			g.metrics.problems.WithLabelValues("bad_json").Inc()
			return e
		}
		e.kind, e.data, e.ok, e.wall = kind, data, true, true
		e.meta.id = "mode" // its coalescing key: a newer mode replaces a queued older one
		e.size += 2 * len(data)
		g.lastMode.Store(&data)
		return e
	}
	if kind != "incident" {
		g.metrics.problems.WithLabelValues("unknown_kind").Inc()
		return e
	}
	if !utf8.ValidString(data) {
		g.metrics.problems.WithLabelValues("invalid_utf8").Inc()
		data = strings.ToValidUTF8(data, "\uFFFD")
	}
	meta, err := decodeMeta([]byte(data))
	if err != nil {
		g.metrics.problems.WithLabelValues("bad_json").Inc()
		return e
	}
	e.kind, e.data, e.meta, e.ok = kind, data, meta, true
	e.size += 4 * len(data) // the data and up to three frames of it
	return e
}

// broadcast fans a batch of stream messages out to the subscribers and
// returns how many messages it queued.
func (g *Gateway) broadcast(msgs []redis.XMessage) int {
	entries := make([]*entry, 0, len(msgs))
	for _, m := range msgs {
		if e := g.newEntry(m); e != nil {
			entries = append(entries, e)
		}
	}
	wake := g.wakeBatch[:0]
	queued := 0
	g.mu.Lock()
	for _, e := range entries {
		if !g.pos.less(e.seq) {
			continue // already seen (the position was reset meanwhile)
		}
		g.pos = e.seq
		g.trackLocked(e)
		g.ring.push(e)
		if e.ok {
			var n int
			wake, n = g.fanoutLocked(e, wake)
			queued += n
			g.metrics.deltas.Inc()
		}
	}
	g.mu.Unlock()
	if len(entries) > 0 {
		g.dirty.Store(true)
	}
	for i, c := range wake {
		c.startWriter()
		wake[i] = nil
	}
	g.wakeBatch = wake[:0]
	return queued
}

// trackLocked records the entry's previous scope and remembers its new one.
func (g *Gateway) trackLocked(e *entry) {
	if !e.ok || e.wall {
		return
	}
	e.prev, e.hasP = g.prev[e.meta.id]
	if e.hasP && e.prev.worker != "" && e.prev.worker != e.meta.worker && g.workerTask[e.prev.worker] == e.meta.task {
		delete(g.workerTask, e.prev.worker) // the task went to someone else
	}
	if w := e.meta.worker; w != "" {
		if e.meta.open && e.meta.task != "" {
			g.workerTask[w] = e.meta.task
		} else if g.workerTask[w] == e.meta.task {
			delete(g.workerTask, w)
		}
	}
	switch {
	case !e.meta.open:
		delete(g.prev, e.meta.id)
	case e.hasP || len(g.prev) < maxPrev:
		g.prev[e.meta.id] = e.meta.scope
	}
}

// fanoutLocked queues e for every subscriber that may see it, and a
// "remove" for scoped subscribers who saw the incident's previous state but
// may not see this one. It is the indexed equivalent of filtering every
// subscriber with viewer.sees (as missedLocked does); a test holds them equal.
func (g *Gateway) fanoutLocked(e *entry, wake []*client) ([]*client, int) {
	n := 0
	push := func(set map[*client]struct{}, f *frame) {
		n += len(set)
		for c := range set {
			if c.push(f) {
				wake = append(wake, c)
			}
		}
	}
	s := e.meta.scope
	if len(g.idx.wall) > 0 {
		push(g.idx.wall, e.frame(chWall))
	}
	if e.wall {
		return wake, n
	}

	if len(g.idx.dispAll) > 0 {
		push(g.idx.dispAll, e.frame(chDispatcher))
	}
	if set := g.idx.dispTown[s.town]; s.town != "" && len(set) > 0 {
		push(set, e.frame(chDispatcher))
	}
	if e.hasP && e.prev.town != s.town {
		if set := g.idx.dispTown[e.prev.town]; e.prev.town != "" && len(set) > 0 {
			push(set, e.remove(chDispatcher))
		}
	}

	if set := g.idx.workerSet(s); len(set) > 0 {
		push(set, e.frame(chWorker))
	}
	if e.hasP && e.prev != s {
		for c := range g.idx.workerSet(e.prev) {
			if !c.viewer.sees(chWorker, s) {
				n++
				if c.push(e.remove(chWorker)) {
					wake = append(wake, c)
				}
			}
		}
	}
	return wake, n
}

// missedLocked returns what c missed on ch after since (a position
// resumableLocked accepted), filtered by scope like fanoutLocked. It
// reports false when that is more than c can take (a snapshot is cheaper).
func (g *Gateway) missedLocked(c *client, ch channel, since streamID) ([]*frame, bool) {
	from := g.ring.n
	if since != g.pos {
		from = g.ring.index(since) + 1
	}
	var out []*frame
	for i := from; i < g.ring.n; i++ {
		e := g.ring.at(i)
		switch {
		case !e.ok:
		case e.wall:
			if ch == chWall {
				out = append(out, e.frame(ch))
			}
		case c.viewer.sees(ch, e.meta.scope):
			out = append(out, e.frame(ch))
		case ch != chWall && e.hasP && c.viewer.sees(ch, e.prev):
			out = append(out, e.remove(ch))
		}
	}
	if len(out) >= g.queueLimit/2 {
		// Several changes of one incident coalesce into its latest in the
		// queue; only the distinct ones count.
		keys := make(map[string]struct{}, len(out))
		for _, f := range out {
			keys[f.key] = struct{}{}
		}
		if len(keys) >= g.queueLimit/2 {
			return nil, false
		}
	}
	return out, true
}

// resumableLocked reports whether a client that has seen everything up to
// since can be continued from the resume buffer.
func (g *Gateway) resumableLocked(since streamID) bool {
	return since == g.pos || g.ring.index(since) >= 0
}

// subscribe registers c on ch. With since it replays what the client
// missed, or tells it to reload; without, it sends a snapshot and then the
// deltas after it. Snapshot, replay and registration happen under the
// broadcast lock, so no delta falls between them or comes twice.
func (g *Gateway) subscribe(ctx context.Context, c *client, ch channel, since string) error {
	if since != "" {
		sid, ok := parseID(since)
		var missed []*frame
		g.mu.Lock()
		if !c.liveNode {
			g.mu.Unlock()
			return errClosed
		}
		g.unsubscribeLocked(c, ch)
		if ok && g.resumableLocked(sid) {
			missed, ok = g.missedLocked(c, ch, sid)
		} else {
			ok = false
		}
		start := false
		if ok {
			for _, f := range missed {
				if c.push(f) {
					start = true
				}
			}
			if f := g.fullPositionsLocked(c, ch); f != nil && c.push(f) {
				start = true
			}
			g.subscribeLocked(c, ch)
		}
		g.mu.Unlock()
		if !ok {
			c.send(reloadFrame(ch, "sequence no longer available"))
		} else if start {
			c.startWriter()
		}
		return nil
	}
	if busy, _, err := g.store.Restoring(ctx); err == nil && busy {
		return errRestoring // a snapshot now would show part of the city
	}
	cache := &g.openSnap
	if ch == chWall {
		cache = &g.wallSnap
	}
	for attempt := range 3 {
		snap, err := cache.get(ctx, g, attempt > 0)
		if err != nil {
			return err
		}
		f := snap.frameFor(c, ch)
		g.mu.Lock()
		if !c.liveNode {
			g.mu.Unlock()
			return errClosed
		}
		var missed []*frame
		ok := snap.gen == g.gen && g.resumableLocked(snap.seq)
		if ok {
			missed, ok = g.missedLocked(c, ch, snap.seq)
		}
		if !ok {
			g.mu.Unlock()
			continue // the snapshot is too far behind the broadcast: take a fresh one
		}
		g.unsubscribeLocked(c, ch)
		start := c.push(f)
		for _, m := range missed {
			if c.push(m) {
				start = true
			}
		}
		if f := g.fullPositionsLocked(c, ch); f != nil && c.push(f) {
			start = true
		}
		g.subscribeLocked(c, ch)
		g.mu.Unlock()
		if start {
			c.startWriter()
		}
		return nil
	}
	return errors.New("no snapshot could be continued from the resume buffer")
}

func (g *Gateway) subscribeLocked(c *client, ch channel) {
	if !c.subs[ch] {
		c.subs[ch] = true
		c.nsubs++
		g.idx.add(c, ch)
	}
}

func (g *Gateway) unsubscribeLocked(c *client, ch channel) {
	if c.subs[ch] {
		c.subs[ch] = false
		c.nsubs--
		g.idx.remove(c, ch)
	}
}

func (g *Gateway) unsubscribe(c *client, ch channel) {
	g.mu.Lock()
	g.unsubscribeLocked(c, ch)
	g.mu.Unlock()
}

// index finds the subscribers of a scope without looking at the others.
type index struct {
	wall     map[*client]struct{}
	dispAll  map[*client]struct{}            // dispatchers without a scope
	dispTown map[string]map[*client]struct{} // by town code
	workGrid map[string]map[*client]struct{} // by grid code
	workSubj map[string]map[*client]struct{} // by worker id
}

func newIndex() index {
	return index{
		wall: map[*client]struct{}{}, dispAll: map[*client]struct{}{},
		dispTown: map[string]map[*client]struct{}{}, workGrid: map[string]map[*client]struct{}{}, workSubj: map[string]map[*client]struct{}{},
	}
}

// workerSet is the set of worker subscribers that see an incident in s
// (viewer.sees for chWorker).
func (x *index) workerSet(s scope) map[*client]struct{} {
	if s.worker != "" {
		return x.workSubj[s.worker]
	}
	if s.grid != "" {
		return x.workGrid[s.grid]
	}
	return nil
}

func addTo(m map[string]map[*client]struct{}, k string, c *client) {
	set := m[k]
	if set == nil {
		set = map[*client]struct{}{}
		m[k] = set
	}
	set[c] = struct{}{}
}

func removeFrom(m map[string]map[*client]struct{}, k string, c *client) {
	if set := m[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m, k)
		}
	}
}

func (x *index) add(c *client, ch channel) {
	v := &c.viewer
	switch ch {
	case chWall:
		x.wall[c] = struct{}{}
	case chDispatcher:
		if v.scope == "" {
			x.dispAll[c] = struct{}{}
		} else {
			addTo(x.dispTown, v.scope, c)
		}
	case chWorker:
		if v.subject != "" {
			addTo(x.workSubj, v.subject, c)
		}
		if v.scope != "" {
			addTo(x.workGrid, v.scope, c)
		}
	}
}

func (x *index) remove(c *client, ch channel) {
	v := &c.viewer
	switch ch {
	case chWall:
		delete(x.wall, c)
	case chDispatcher:
		if v.scope == "" {
			delete(x.dispAll, c)
		} else {
			removeFrom(x.dispTown, v.scope, c)
		}
	case chWorker:
		removeFrom(x.workSubj, v.subject, c)
		removeFrom(x.workGrid, v.scope, c)
	}
}

// ring holds the most recent stream entries, oldest first, contiguous up
// to the broadcast position: the resume buffer.
type ring struct {
	buf      []*entry
	head, n  int
	bytes    int
	maxN     int
	maxBytes int
}

func (r *ring) push(e *entry) {
	if r.buf == nil {
		r.buf = make([]*entry, max(r.maxN, 1))
	}
	for r.n > 0 && (r.n == len(r.buf) || r.bytes+e.size > r.maxBytes) {
		old := r.buf[r.head]
		r.buf[r.head] = nil
		r.head = (r.head + 1) % len(r.buf)
		r.n--
		r.bytes -= old.size
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
	r.bytes += e.size
}

func (r *ring) at(i int) *entry { return r.buf[(r.head+i)%len(r.buf)] }

// index returns the position of the entry with id s, or -1.
func (r *ring) index(s streamID) int {
	i := sort.Search(r.n, func(i int) bool { return !r.at(i).seq.less(s) })
	if i < r.n && r.at(i).seq == s {
		return i
	}
	return -1
}

func (r *ring) clear() {
	clear(r.buf)
	r.head, r.n, r.bytes = 0, 0, 0
}
