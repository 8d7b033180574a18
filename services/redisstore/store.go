package redisstore

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// ErrNotFound is returned for an incident that is not in the projection.
var ErrNotFound = errors.New("not found")

// StreamMaxLen bounds the realtime delta stream (approximately).
const StreamMaxLen = 20000

// EmbeddedStreamMaxLen bounds it on the embedded Redis (miniredis): its
// XREAD compares every entry of the stream, and re-runs a blocked XREAD (the
// realtime gateway's) after every command any client sends, so the cost of
// each command grows with the stream. 5,000 is what the gateway reads back
// into its resume ring at start-up; in all-in-one mode a restart also
// empties the in-memory Redis, so no client can resume further back.
const EmbeddedStreamMaxLen = 5000

// Store is the projection store. It is safe for concurrent use.
type Store struct {
	rdb       redis.UniversalClient
	prefix    string
	loc       *time.Location
	streamMax int    // MAXLEN of the delta stream
	posMax    int    // MAXLEN of the position stream
	wake      *wakes // nil unless WithLocalWakeups
}

// New returns a store on rdb with keys under prefix; loc is the city's time
// zone (for per-day counters).
func New(rdb redis.UniversalClient, prefix string, loc *time.Location) *Store {
	return &Store{rdb: rdb, prefix: prefix, loc: loc, streamMax: StreamMaxLen, posMax: PositionStreamMaxLen}
}

// WithStreamMaxLen sets the delta stream's bound (EmbeddedStreamMaxLen on
// the embedded Redis) and returns the store.
func (s *Store) WithStreamMaxLen(n int) *Store {
	s.streamMax = n
	return s
}

// Prefix returns the prefix of the store's keys.
func (s *Store) Prefix() string { return s.prefix }

// Client returns the underlying client.
func (s *Store) Client() redis.UniversalClient { return s.rdb }

func (s *Store) key(parts ...string) string {
	k := s.prefix
	for i, p := range parts {
		if i > 0 {
			k += ":"
		}
		k += p
	}
	return k
}

// WallStream is the key of the realtime delta stream.
func (s *Store) WallStream() string { return s.key("rt", "wall") }

//go:embed apply.lua
var applyLua string

var applyScript = redis.NewScript(applyLua)

// ErrNotBuilt is returned by Apply when the projections are not built (a
// fresh or flushed Redis): rebuild them first (projection.EnsureBuilt).
var ErrNotBuilt = errors.New("projections not built")

// Apply projects one lifecycle event. It reports whether it changed
// anything (false for a version already applied), or ErrNotBuilt.
func (s *Store) Apply(ctx context.Context, lc event.Lifecycle) (bool, error) {
	return s.apply(ctx, lc, false)
}

// ApplyAll projects lifecycle events in order, in as few script calls as
// it can (ApplyBatch at a time), and reports for each whether it changed
// anything. On an error, changed holds the results of the events before
// the failing call (all applied), and the failing call's are unknown.
func (s *Store) ApplyAll(ctx context.Context, lcs []event.Lifecycle) (changed []bool, err error) {
	return s.applyAll(ctx, lcs, false)
}

// ApplyRebuildAll is ApplyAll for the rebuild, into a store not yet built
// (ApplyRebuild for many changes: a replay applies the topic in batches).
func (s *Store) ApplyRebuildAll(ctx context.Context, lcs []event.Lifecycle) (changed []bool, err error) {
	return s.applyAll(ctx, lcs, true)
}

func (s *Store) applyAll(ctx context.Context, lcs []event.Lifecycle, rebuilding bool) (changed []bool, err error) {
	changed = make([]bool, 0, len(lcs))
	for len(lcs) > 0 {
		n := min(len(lcs), ApplyBatch)
		got, err := s.applyBatch(ctx, lcs[:n], rebuilding)
		if err != nil {
			return changed, err
		}
		changed = append(changed, got...)
		lcs = lcs[n:]
	}
	return changed, nil
}

// ApplyBatch is the most lifecycle events ApplyAll projects in one script
// call: the script holds Redis for the whole batch, and 100 changes take
// about a millisecond on a real Redis.
const ApplyBatch = 100

// ApplyNew is Apply for a consumer that mostly sees changes already
// applied (the projector, after the dispatcher applied its batch): a plain
// read of the stored version skips the script for those, which on the
// embedded Redis costs far more than the read (a Lua state per call). What
// Apply does beside the script (the command's result) is still done.
func (s *Store) ApplyNew(ctx context.Context, lc event.Lifecycle) (bool, error) {
	v, err := s.Version(ctx, lc.IncidentID)
	if err != nil {
		v = 0
	}
	return s.ApplySince(ctx, lc, v)
}

// ApplySince is ApplyNew given a version of the incident read before (by
// Versions, for a batch): versions only grow, so a change at or below it
// is applied already.
func (s *Store) ApplySince(ctx context.Context, lc event.Lifecycle, stored int) (bool, error) {
	if stored < lc.Version {
		return s.apply(ctx, lc, false)
	}
	return false, s.recordCommand(ctx, lc)
}

// ApplyRebuild is Apply for the rebuild itself, into a store not yet built.
func (s *Store) ApplyRebuild(ctx context.Context, lc event.Lifecycle) (bool, error) {
	return s.apply(ctx, lc, true)
}

func (s *Store) apply(ctx context.Context, lc event.Lifecycle, rebuilding bool) (bool, error) {
	changed, err := s.applyBatch(ctx, []event.Lifecycle{lc}, rebuilding)
	if err != nil {
		return false, err
	}
	return changed[0], nil
}

// applyBatch runs the apply script once for lcs, then records their
// commands' results.
func (s *Store) applyBatch(ctx context.Context, lcs []event.Lifecycle, rebuilding bool) ([]bool, error) {
	keys := make([]string, 0, 14*len(lcs))
	args := make([]any, 1, 1+18*len(lcs))
	args[0] = len(lcs)
	for _, lc := range lcs {
		k, a, err := s.applyArgs(lc, rebuilding)
		if err != nil {
			return nil, err
		}
		keys, args = append(keys, k...), append(args, a...)
	}
	first, last := lcs[0], lcs[len(lcs)-1]
	what := fmt.Sprintf("apply %s v%d", first.IncidentID, first.Version)
	if len(lcs) > 1 {
		what = fmt.Sprintf("apply %d changes (%s v%d … %s v%d)", len(lcs), first.IncidentID, first.Version, last.IncidentID, last.Version)
	}
	res, err := applyScript.Run(ctx, s.rdb, keys, args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(res) != len(lcs) {
		return nil, fmt.Errorf("%s: %d results", what, len(res))
	}
	changed := make([]bool, len(lcs))
	wrote := false
	for i, n := range res {
		if n == -1 {
			return nil, fmt.Errorf("%s: %w", what, ErrNotBuilt)
		}
		changed[i] = n == 1
		wrote = wrote || changed[i]
	}
	if wrote {
		s.wroteWall()
	}
	if err := s.recordCommands(ctx, lcs); err != nil {
		return nil, err
	}
	return changed, nil
}

// applyArgs returns the apply script's keys and arguments for one change.
func (s *Store) applyArgs(lc event.Lifecycle, rebuilding bool) ([]string, []any, error) {
	inc, err := wire.Marshal(lc.Incident)
	if err != nil {
		return nil, nil, fmt.Errorf("encode incident %s: %w", lc.IncidentID, err)
	}
	entry, err := auditEntry(lc)
	if err != nil {
		return nil, nil, fmt.Errorf("encode lifecycle %s: %w", lc.ID, err)
	}
	counted, count := "", "0" // reports are counted per source on the day they joined
	if lc.EventID != "" {
		counted = string(lc.EventSource)
		if lc.SplitFrom == "" {
			count = "1"
		}
	}
	open := "0"
	if lc.Incident.State.Open() {
		open = "1"
	}
	day := lc.At.In(s.loc).Format("20060102")
	family := "none"
	if c, err := taxonomy.Lookup(lc.Incident.Category); err == nil {
		family = c.Family
	}
	lon, lat := "", ""
	cells := s.key("fuse", family, "cells")
	cell := cells // not used when not located
	if p := lc.Incident.Location; p != nil {
		lon, lat = strconv.FormatFloat(p.Lon, 'f', -1, 64), strconv.FormatFloat(p.Lat, 'f', -1, 64)
		cell = s.fuseCell(family, p.Lon, p.Lat)
	}
	keys := []string{
		s.key("inc", lc.IncidentID), s.key("inc", "updated"), s.key("inc", "open"), s.key("tl", lc.IncidentID),
		s.key("stats", "day", day), s.key("stats", "state"), s.WallStream(),
		s.key("evinc", lc.EventID), cell, s.key("fuse", family, "seen"), s.key("reports", lc.IncidentID),
		s.key("meta"), cells, s.key("fuse", family, "geo"),
	}
	force := "0"
	if rebuilding {
		force = "1"
	}
	var report []byte
	if lc.Report != nil {
		if report, err = wire.Marshal(lc.Report); err != nil {
			return nil, nil, fmt.Errorf("encode report %s: %w", lc.EventID, err)
		}
	}
	args := []any{
		lc.IncidentID, lc.Version, inc, string(lc.Incident.State), lc.Incident.UpdatedAt.UnixMilli(), entry, open, counted, s.streamMax,
		lon, lat, lc.Incident.LastSeen.UnixMilli(), string(lc.Case), string(report), lc.EventID, force, count, lc.SplitEvent,
	}
	return keys, args, nil
}

// recordCommand records the result of the command that made lc, if any:
// the command's result is part of the projection, so a command delivered
// again after a rebuild is recognised as decided.
func (s *Store) recordCommand(ctx context.Context, lc event.Lifecycle) error {
	return s.recordCommands(ctx, []event.Lifecycle{lc})
}

// recordCommands is recordCommand for many changes, in one round trip.
func (s *Store) recordCommands(ctx context.Context, lcs []event.Lifecycle) error {
	var pipe redis.Pipeliner
	var cmds []*redis.BoolCmd
	var from []event.Lifecycle
	for _, lc := range lcs {
		if lc.CommandID == "" {
			continue
		}
		if pipe == nil {
			pipe = s.rdb.Pipeline()
		}
		res, _ := json.Marshal(map[string]any{"command_id": lc.CommandID, "outcome": "applied", "version": lc.Version})
		cmds = append(cmds, pipe.SetNX(ctx, s.key("cmdres", lc.CommandID), res, 0))
		from = append(from, lc)
	}
	if pipe == nil {
		return nil
	}
	_, _ = pipe.Exec(ctx) // each command's error is its own, below
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			return fmt.Errorf("apply %s v%d: %w", from[i].IncidentID, from[i].Version, err)
		}
	}
	return nil
}

// Incident returns one incident.
func (s *Store) Incident(ctx context.Context, id string) (event.Incident, error) {
	b, err := s.rdb.HGet(ctx, s.key("inc", id), "json").Bytes()
	if errors.Is(err, redis.Nil) {
		return event.Incident{}, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return event.Incident{}, fmt.Errorf("incident %s: %w", id, err)
	}
	return decodeIncident(id, b)
}

func decodeIncident(id string, b []byte) (event.Incident, error) {
	var inc event.Incident
	if err := json.Unmarshal(b, &inc); err != nil {
		return inc, fmt.Errorf("decode incident %s: %w", id, err)
	}
	return inc, nil
}

// Case returns the dispatcher's case state of an incident (nil if none was
// recorded) and the incident's version.
func (s *Store) Case(ctx context.Context, id string) ([]byte, int, error) {
	vals, err := s.rdb.HMGet(ctx, s.key("inc", id), "case", "version").Result()
	if err != nil {
		return nil, 0, fmt.Errorf("case %s: %w", id, err)
	}
	return caseOf(id, vals[0], vals[1])
}

// caseOf is Case's answer from the hash fields case and version.
func caseOf(id string, cas, version any) ([]byte, int, error) {
	if version == nil {
		return nil, 0, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	v, _ := strconv.Atoi(fmt.Sprint(version))
	if c, ok := cas.(string); ok {
		return []byte(c), v, nil
	}
	return nil, v, nil
}

// RecordRefusal adds a refused command to the incident's audit trail,
// once per command id.
func (s *Store) RecordRefusal(ctx context.Context, lc event.Lifecycle) error {
	entry, err := auditEntry(lc)
	if err != nil {
		return err
	}
	res, _ := json.Marshal(map[string]any{"command_id": lc.CommandID, "outcome": "refused", "error": lc.Code, "message": lc.Refusal, "version": lc.Version})
	const lua = `if redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[2]) then redis.call('RPUSH', KEYS[2], ARGV[1]) end
redis.call('SET', KEYS[3], ARGV[3], 'NX')
return 1`
	return s.rdb.Eval(ctx, lua, []string{s.key("seen", "refusal", lc.CommandID), s.key("tl", lc.IncidentID), s.key("cmdres", lc.CommandID)},
		entry, 31*24*3600, res).Err()
}

// SetResult stores the outcome of a command for the API waiting on it, for
// a retried request with the same command id, and for a re-delivery (the
// projection keeps results of applied and refused commands, so they come
// back with a rebuild).
func (s *Store) SetResult(ctx context.Context, commandID string, result []byte) error {
	return s.rdb.Set(ctx, s.key("cmdres", commandID), result, 0).Err()
}

// Result returns the outcome of a command, or ErrNotFound while it is
// not decided yet.
func (s *Store) Result(ctx context.Context, commandID string) ([]byte, error) {
	b, err := s.rdb.Get(ctx, s.key("cmdres", commandID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	return b, err
}

// Reports returns the events fused into an incident, in arrival order.
func (s *Store) Reports(ctx context.Context, id string) ([]event.Event, error) {
	raw, err := s.rdb.HGetAll(ctx, s.key("reports", id)).Result()
	if err != nil {
		return nil, fmt.Errorf("reports %s: %w", id, err)
	}
	out := make([]event.Event, 0, len(raw))
	for _, r := range raw {
		var ev event.Event
		if err := wire.Unmarshal([]byte(r), &ev); err != nil {
			return nil, fmt.Errorf("decode report of %s: %w", id, err)
		}
		out = append(out, ev)
	}
	sortReports(out)
	return out, nil
}

// sortReports orders an incident's reports by when they were received, and
// those received together (a feed's array) by their reference and id, so
// that the first and the latest are the same on every read.
func sortReports(evs []event.Event) {
	slices.SortFunc(evs, func(a, b event.Event) int {
		return cmp.Or(a.ReceivedAt.Compare(b.ReceivedAt), cmp.Compare(a.SourceRef, b.SourceRef), cmp.Compare(a.ID, b.ID))
	})
}

// FirstAndLatestReports returns the first report of inc and its latest
// limit-1 (all when limit ≤ 0; see event.FirstAndLatest), oldest first, and
// how many it has. When the incident lists enough of them (EventIDs: the
// first and the latest 49) it reads and decodes only those, where a storm's
// incident keeps thousands; else all.
func (s *Store) FirstAndLatestReports(ctx context.Context, inc event.Incident, limit int) ([]event.Event, int, error) {
	key := s.key("reports", inc.ID)
	ids := inc.EventIDs
	if limit <= 0 || len(ids) == 0 {
		ids = nil
	}
	pipe := s.rdb.Pipeline()
	hlen := pipe.HLen(ctx, key)
	var listed *redis.SliceCmd
	if len(ids) > 0 {
		listed = pipe.HMGet(ctx, key, ids...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, 0, fmt.Errorf("reports %s: %w", inc.ID, err)
	}
	total := int(hlen.Val())
	var out []event.Event
	if listed != nil {
		for _, v := range listed.Val() {
			r, ok := v.(string)
			if !ok {
				out = nil // listed but not stored: read them all
				break
			}
			var ev event.Event
			if err := wire.Unmarshal([]byte(r), &ev); err != nil {
				return nil, total, fmt.Errorf("decode report of %s: %w", inc.ID, err)
			}
			out = append(out, ev)
		}
	}
	if len(out) < min(limit, total) || (limit <= 0 && len(out) < total) {
		all, err := s.Reports(ctx, inc.ID)
		if err != nil {
			return nil, total, err
		}
		out, total = all, len(all)
	} else {
		sortReports(out)
	}
	if limit > 0 {
		out = event.FirstAndLatest(out, limit)
	}
	return out, total, nil
}

// Report returns one event fused into an incident, or ErrNotFound.
func (s *Store) Report(ctx context.Context, incidentID, eventID string) (event.Event, error) {
	var ev event.Event
	b, err := s.rdb.HGet(ctx, s.key("reports", incidentID), eventID).Bytes()
	if errors.Is(err, redis.Nil) {
		return ev, ErrNotFound
	}
	if err != nil {
		return ev, fmt.Errorf("report %s of %s: %w", eventID, incidentID, err)
	}
	if err := wire.Unmarshal(b, &ev); err != nil {
		return ev, fmt.Errorf("decode report %s of %s: %w", eventID, incidentID, err)
	}
	return ev, nil
}

// Version returns the stored version of an incident (0 if absent).
func (s *Store) Version(ctx context.Context, id string) (int, error) {
	v, err := s.rdb.HGet(ctx, s.key("inc", id), "version").Int()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// Query selects incidents, newest update first.
type Query struct {
	OpenOnly bool
	Offset   int
	Limit    int // 1 … 5000, default 100
}

// Incidents returns a page of incidents and the total matching.
func (s *Store) Incidents(ctx context.Context, q Query) ([]event.Incident, int, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	q.Limit = min(q.Limit, 5000)
	idx := s.key("inc", "updated")
	if q.OpenOnly {
		idx = s.key("inc", "open")
	}
	total, err := s.rdb.ZCard(ctx, idx).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("count incidents: %w", err)
	}
	ids, err := s.rdb.ZRevRange(ctx, idx, int64(q.Offset), int64(q.Offset+q.Limit-1)).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("list incidents: %w", err)
	}
	incs, err := s.load(ctx, ids)
	return incs, int(total), err
}

func (s *Store) load(ctx context.Context, ids []string) ([]event.Incident, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGet(ctx, s.key("inc", id), "json")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("load incidents: %w", err)
	}
	out := make([]event.Incident, 0, len(ids))
	for _, c := range cmds {
		b, err := c.Bytes()
		if err != nil {
			continue // removed between the index read and this one
		}
		var inc event.Incident
		if err := json.Unmarshal(b, &inc); err != nil {
			return nil, fmt.Errorf("decode incident: %w", err)
		}
		out = append(out, inc)
	}
	return out, nil
}

// AuditEntry is one entry of an incident's audit trail: the lifecycle
// event without the snapshots it carries (the incident and case state after
// it), which only a rebuild needs.
type AuditEntry struct {
	event.Lifecycle
	Incident *struct{} `json:"incident,omitempty"`
	Case     *struct{} `json:"case,omitempty"`
	Report   *struct{} `json:"report,omitempty"`
	// Repeats is how many entries this one stands for in a folded timeline
	// (the API's ?timeline=folded): a run of reports fused in; 0 is one.
	Repeats int `json:"repeats,omitempty"`
}

// auditEntry encodes lc for the incident's timeline list: without the
// snapshots, which Timeline never returns and the tasks topic keeps for a
// rebuild. Stored with them, the list grew with the square of an
// incident's fused reports (each snapshot lists every report id so far)
// and held most of the projection's memory per report.
func auditEntry(lc event.Lifecycle) ([]byte, error) {
	return wire.Marshal(AuditEntry{Lifecycle: lc})
}

// Timeline returns the audit trail of an incident, oldest first.
func (s *Store) Timeline(ctx context.Context, id string) ([]AuditEntry, error) {
	raw, err := s.rdb.LRange(ctx, s.key("tl", id), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("timeline %s: %w", id, err)
	}
	out := make([]AuditEntry, 0, len(raw))
	for _, r := range raw {
		var e AuditEntry
		if err := wire.Unmarshal([]byte(r), &e.Lifecycle); err != nil {
			return nil, fmt.Errorf("decode timeline %s: %w", id, err)
		}
		e.Lifecycle.Incident, e.Lifecycle.Case, e.Lifecycle.Report = event.Incident{}, nil, nil
		out = append(out, e)
	}
	return out, nil
}

// Stats are the wall's headline counters.
type Stats struct {
	Today  map[event.Source]int `json:"today"`
	Open   int                  `json:"open"`
	Closed int                  `json:"closed"`
	Total  int                  `json:"total"`
	States map[string]int       `json:"states"`
}

// Stats returns the counters for the local day of now.
func (s *Store) Stats(ctx context.Context, now time.Time) (Stats, error) {
	st := Stats{Today: map[event.Source]int{}, States: map[string]int{}}
	pipe := s.rdb.Pipeline()
	day := pipe.HGetAll(ctx, s.key("stats", "day", now.In(s.loc).Format("20060102")))
	states := pipe.HGetAll(ctx, s.key("stats", "state"))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return st, fmt.Errorf("stats: %w", err)
	}
	for _, src := range event.Sources {
		st.Today[src], _ = strconv.Atoi(day.Val()[string(src)])
	}
	for k, v := range states.Val() {
		n, _ := strconv.Atoi(v)
		if n == 0 {
			continue
		}
		st.States[k] = n
		st.Total += n
		if event.State(k).Open() {
			st.Open += n
		} else {
			st.Closed += n
		}
	}
	return st, nil
}

// MarkSeen sets an idempotency mark and reports whether it was new.
func (s *Store) MarkSeen(ctx context.Context, kind, id string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.key("seen", kind, id), 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("mark %s %s: %w", kind, id, err)
	}
	return ok, nil
}

// Seen reports whether an idempotency mark exists.
func (s *Store) Seen(ctx context.Context, kind, id string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.key("seen", kind, id)).Result()
	if err != nil {
		return false, fmt.Errorf("seen %s %s: %w", kind, id, err)
	}
	return n == 1, nil
}

// SeenAll is Seen of each id, in one round trip (one MGET): an array of
// reports is checked at once, not one call per report.
func (s *Store) SeenAll(ctx context.Context, kind string, ids []string) ([]bool, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = s.key("seen", kind, id)
	}
	vals, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, fmt.Errorf("seen %s %s (and %d more): %w", kind, ids[0], len(ids)-1, err)
	}
	seen := make([]bool, len(ids))
	for i, v := range vals {
		seen[i] = v != nil
	}
	return seen, nil
}

// MarkSeenAll records marks for ids (as MarkSeen each), in one round trip.
func (s *Store) MarkSeenAll(ctx context.Context, kind string, ids []string, ttl time.Duration) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.SetNX(ctx, s.key("seen", kind, id), 1, ttl)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark %s %s (and %d more): %w", kind, ids[0], len(ids)-1, err)
	}
	return nil
}

// Built reports whether the projections were built (rebuilt) since Redis
// was last empty.
func (s *Store) Built(ctx context.Context) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.key("meta")).Result()
	return n == 1, err
}

// SetBuilt records that a rebuild finished, and drops its progress.
func (s *Store) SetBuilt(ctx context.Context) error {
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.key("meta"), "built", time.Now().UTC().Format(time.RFC3339))
		p.Del(ctx, s.key("rebuild"))
		return nil
	})
	return err
}

// RebuildProgress is how far a rebuild of the projections has come: what
// an operator waiting for the screens wants to know.
type RebuildProgress struct {
	Done  int64     `json:"done"`  // records of the tasks topic replayed
	Total int64     `json:"total"` // records to replay (the topic's end when it began)
	Since time.Time `json:"since"` // when it began
}

// Percent is Done of Total in whole percent (100 when there is nothing to
// replay).
func (p RebuildProgress) Percent() int {
	if p.Total <= 0 {
		return 100
	}
	return int(min(100, p.Done*100/p.Total))
}

// String is the progress as the API's 503 and the readiness check say it:
// "42% (17000 of 41070 records)".
func (p RebuildProgress) String() string {
	return fmt.Sprintf("%d%% (%d of %d records)", p.Percent(), p.Done, p.Total)
}

// rebuildProgressTTL: the progress of a rebuilder that died goes after
// this long (a live one writes it every few thousand records).
const rebuildProgressTTL = 2 * time.Minute

// SetRebuildProgress records how far the rebuild has come, for every
// process that reads this store (the api instances of a cluster answer
// with it while a dispatcher rebuilds).
func (s *Store) SetRebuildProgress(ctx context.Context, p RebuildProgress) error {
	k := s.key("rebuild")
	_, err := s.rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		pl.HSet(ctx, k, "done", p.Done, "total", p.Total, "since", p.Since.UnixMilli())
		pl.Expire(ctx, k, rebuildProgressTTL)
		return nil
	})
	return err
}

// Restoring reports whether the projections are not built (a rebuild is
// under way, or due), and the rebuild's progress when one is recorded
// (nil: none is).
func (s *Store) Restoring(ctx context.Context) (bool, *RebuildProgress, error) {
	var exists *redis.IntCmd
	var prog *redis.SliceCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		exists = p.Exists(ctx, s.key("meta"))
		prog = p.HMGet(ctx, s.key("rebuild"), "done", "total", "since")
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	if exists.Val() == 1 {
		return false, nil, nil
	}
	v := prog.Val()
	if len(v) != 3 || v[0] == nil || v[1] == nil || v[2] == nil {
		return true, nil, nil
	}
	num := func(x any) int64 { s, _ := x.(string); n, _ := strconv.ParseInt(s, 10, 64); return n }
	return true, &RebuildProgress{Done: num(v[0]), Total: num(v[1]), Since: time.UnixMilli(num(v[2])).UTC()}, nil
}

// Layout names the shape of the keys the projections write (doc.go). A
// snapshot of the embedded Redis records it, and a start refuses a
// snapshot of another layout (the projections are rebuilt from Kafka
// instead): change it whenever a key is added, removed or changes what it
// holds in a way the code reading it would not understand.
const Layout = "2026-12-07"

// Snapshotted reports whether a key belongs in a snapshot of the embedded
// Redis (embedded.Redis.Copy): the store's keys but for what is rebuilt or
// published again at every start anyway, or would hold the next start up —
// the built mark (set when the snapshot has been brought up to date), a
// rebuild's progress, the locks, the websocket tickets and the api's
// published accounts. Streams are never snapshotted.
func (s *Store) Snapshotted(key string) bool {
	k, ok := strings.CutPrefix(key, s.prefix)
	if !ok {
		return false
	}
	switch {
	case k == "meta", k == "rebuild", k == "accounts", k == "accounts:sum",
		strings.HasPrefix(k, "lock:"), strings.HasPrefix(k, "ticket:"):
		return false
	}
	return true
}

// Flush deletes every key under the prefix (projections, marks, streams).
func (s *Store) Flush(ctx context.Context) error {
	iter := s.rdb.Scan(ctx, 0, s.prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := s.rdb.Del(ctx, batch...).Err(); err != nil {
				return fmt.Errorf("flush: %w", err)
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if len(batch) > 0 {
		if err := s.rdb.Del(ctx, batch...).Err(); err != nil {
			return err
		}
	}
	s.wroteWall() // the streams are gone: the readers find out at once
	s.wrotePositions()
	return nil
}

// Lock takes a named lock for ttl and reports whether this caller got it.
func (s *Store) Lock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	return s.rdb.SetNX(ctx, s.key("lock", name), owner, ttl).Result()
}

// Extend gives a lock owner holds ttl more, and reports whether owner
// still held it.
func (s *Store) Extend(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	const lua = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`
	n, err := s.rdb.Eval(ctx, lua, []string{s.key("lock", name)}, owner, ttl.Milliseconds()).Int()
	return n == 1, err
}

// Unlock releases a lock taken by owner.
func (s *Store) Unlock(ctx context.Context, name, owner string) error {
	const lua = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`
	return s.rdb.Eval(ctx, lua, []string{s.key("lock", name)}, owner).Err()
}

// PutTicket stores a one-time websocket ticket valid for ttl. The stored
// value carries the ticket's deadline ("<unix ms> <claims>"), which
// TakeTicket checks; the key's TTL only cleans up what was never taken, and
// is longer than the ticket's life by ticketKeySlack: the embedded Redis
// moves its clock a minute at a time, so a key with a 30 s TTL set just
// before a move expired at once, and the browser that had just fetched the
// ticket was refused its websocket (401 "ticket unknown, used or expired").
func (s *Store) PutTicket(ctx context.Context, ticket string, claims []byte, ttl time.Duration) error {
	v := strconv.AppendInt(make([]byte, 0, 16+len(claims)), time.Now().Add(ttl).UnixMilli(), 10)
	v = append(append(v, ' '), claims...)
	return s.rdb.Set(ctx, s.key("ticket", ticket), v, ttl+ticketKeySlack).Err()
}

// ticketKeySlack is how much longer a ticket's key lives than the ticket:
// more than one move of the embedded Redis's clock (embedded.TickEvery).
const ticketKeySlack = 2 * time.Minute

// TakeTicket returns a ticket's claims and deletes it (a ticket works once);
// ErrNotFound for a ticket never issued, already taken or past its deadline.
func (s *Store) TakeTicket(ctx context.Context, ticket string) ([]byte, error) {
	b, err := s.rdb.GetDel(ctx, s.key("ticket", ticket)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if len(b) > 0 && b[0] == '{' {
		return b, nil // stored by a version before deadlines: its TTL alone
	}
	deadline, claims, ok := bytes.Cut(b, []byte{' '})
	ms, perr := strconv.ParseInt(string(deadline), 10, 64)
	if !ok || perr != nil || time.Now().UnixMilli() >= ms {
		return nil, ErrNotFound
	}
	return claims, nil
}

// Ping checks the connection.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// PushAlert records an alert for the realtime stream and the recent-alerts
// list (the newest 200).
func (s *Store) PushAlert(ctx context.Context, alert []byte) error {
	pipe := s.rdb.TxPipeline()
	pipe.LPush(ctx, s.key("alerts"), alert)
	pipe.LTrim(ctx, s.key("alerts"), 0, 199)
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.WallStream(), MaxLen: int64(s.streamMax), Approx: true, Values: []any{"kind", "alert", "data", string(alert)}})
	_, err := pipe.Exec(ctx)
	s.wroteWall()
	return err
}

// Alerts returns the recent alerts, newest first.
func (s *Store) Alerts(ctx context.Context, n int) ([]json.RawMessage, error) {
	raw, err := s.rdb.LRange(ctx, s.key("alerts"), 0, int64(n-1)).Result()
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, len(raw))
	for i, r := range raw {
		out[i] = json.RawMessage(r)
	}
	return out, nil
}

// StreamTop returns the id of the newest entry of the realtime delta stream
// ("" when empty): a token that changes with every projection change.
func (s *Store) StreamTop(ctx context.Context) (string, error) {
	top, err := s.rdb.XRevRangeN(ctx, s.WallStream(), "+", "-", 1).Result()
	if err != nil || len(top) == 0 {
		return "", err
	}
	return top[0].ID, nil
}
