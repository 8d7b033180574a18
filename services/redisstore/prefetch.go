package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/citybrain-ioc/citybrain/services/event"
)

// Prefetched is what Prefetch read for a batch of records, as it was when
// read: event → incident links, and incidents with their case state. Its
// lookups answer Incident, Case and IncidentOf as the store would have at
// that moment, and report ok = false for what was not read (or could not
// be): ask the store then. A nil *Prefetched knows nothing.
type Prefetched struct {
	links     map[string]string // event id → incident id, "" for none
	incidents map[string][]any  // incident id → HMGET json, case, version
}

// Prefetch reads the links of eventIDs and the incidents (with cases) of
// incidentIDs in one round trip: the dispatcher reads these for every
// event, and one pipeline per batch replaces three round trips per record.
func (s *Store) Prefetch(ctx context.Context, eventIDs, incidentIDs []string) (*Prefetched, error) {
	pipe := s.rdb.Pipeline()
	links := make([]*redis.StringCmd, len(eventIDs))
	for i, id := range eventIDs {
		links[i] = pipe.Get(ctx, s.key("evinc", id))
	}
	incs := make([]*redis.SliceCmd, len(incidentIDs))
	for i, id := range incidentIDs {
		incs[i] = pipe.HMGet(ctx, s.key("inc", id), "json", "case", "version")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("prefetch: %w", err)
	}
	p := &Prefetched{links: make(map[string]string, len(eventIDs)), incidents: make(map[string][]any, len(incidentIDs))}
	for i, c := range links {
		switch id, err := c.Result(); {
		case errors.Is(err, redis.Nil):
			p.links[eventIDs[i]] = ""
		case err == nil:
			p.links[eventIDs[i]] = id
		}
	}
	for i, c := range incs {
		if vals, err := c.Result(); err == nil && len(vals) == 3 {
			p.incidents[incidentIDs[i]] = vals
		}
	}
	return p, nil
}

// IncidentOf is Store.IncidentOf as prefetched.
func (p *Prefetched) IncidentOf(eventID string) (id string, ok bool) {
	if p == nil {
		return "", false
	}
	id, ok = p.links[eventID]
	return id, ok
}

// Incident is Store.Incident as prefetched.
func (p *Prefetched) Incident(id string) (inc event.Incident, ok bool, err error) {
	if p == nil {
		return inc, false, nil
	}
	vals, ok := p.incidents[id]
	if !ok {
		return inc, false, nil
	}
	b, isString := vals[0].(string)
	if !isString {
		return inc, true, fmt.Errorf("incident %s: %w", id, ErrNotFound)
	}
	inc, err = decodeIncident(id, []byte(b))
	return inc, true, err
}

// Case is Store.Case as prefetched.
func (p *Prefetched) Case(id string) (raw []byte, version int, ok bool, err error) {
	if p == nil {
		return nil, 0, false, nil
	}
	vals, ok := p.incidents[id]
	if !ok {
		return nil, 0, false, nil
	}
	raw, version, err = caseOf(id, vals[1], vals[2])
	return raw, version, true, err
}

// Versions reads the stored version of each of ids in one round trip (0 for
// an incident not stored). The projector reads them for a batch: most of
// the changes it consumes the dispatcher has applied already.
func (s *Store) Versions(ctx context.Context, ids []string) (map[string]int, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGet(ctx, s.key("inc", id), "version")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("versions: %w", err)
	}
	out := make(map[string]int, len(ids))
	for i, c := range cmds {
		switch v, err := c.Int(); {
		case errors.Is(err, redis.Nil):
			out[ids[i]] = 0
		case err == nil:
			out[ids[i]] = v
		}
	}
	return out, nil
}
