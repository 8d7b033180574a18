// Package playback replays the city's incidents between two instants from
// Kafka (回放), over a websocket: GET /ws/playback?from=&to=&speed=,
// authenticated exactly like /ws (docs/realtime-protocol.md, "Playback").
//
// It reads the tasks topic — every lifecycle record carries the full state
// of its incident after the change — with its own kafka-go readers, one per
// partition, without a consumer group and without committing anything, so
// the live pipeline is untouched. Everything before `from` is folded into
// the state at `from` (only the incident id, version and raw incident bytes
// of each record are decoded; the incident itself only once, for the
// incidents kept), which is sent as a snapshot; the changes between `from`
// and `to` are then sent in record-time order, paced at `speed`× by a
// virtual clock, with a clock message at least once a second.
package playback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/segmentio/kafka-go"

	"github.com/citybrain-ioc/citybrain/services/kafkabus"
	"github.com/citybrain-ioc/citybrain/services/realtime"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// Limits.
const (
	MaxConcurrent = 2                   // playbacks per instance at once
	MaxRange      = 31 * 24 * time.Hour // from … to
	MaxSpeed      = 60
	MaxChanges    = 200_000 // changes between from and to one playback holds
	tick          = 100 * time.Millisecond
	clockEvery    = time.Second
	leadIn        = 5 * time.Second  // an empty period before the first change is skipped down to this
	writeWait     = 30 * time.Second // a slow wall slows its playback down rather than ending it
)

// Server serves /ws/playback.
type Server struct {
	gw       *realtime.Gateway // authentication (tickets, origins) as /ws
	brokers  []string
	topic    string
	log      *slog.Logger
	slots    chan struct{}
	upgrader websocket.Upgrader
	wg       sync.WaitGroup
	now      func() time.Time
	base     context.Context // ends every playback (their connections are hijacked: the HTTP server's shutdown does not reach them)
}

// New returns the playback endpoint reading topic (the tasks topic); every
// playback ends when ctx does.
func New(ctx context.Context, gw *realtime.Gateway, brokers []string, topic string, log *slog.Logger) *Server {
	s := &Server{gw: gw, brokers: brokers, topic: topic, log: log, slots: make(chan struct{}, MaxConcurrent), now: time.Now, base: ctx}
	s.upgrader = websocket.Upgrader{Subprotocols: []string{realtime.Protocol}, CheckOrigin: gw.CheckOrigin, HandshakeTimeout: 10 * time.Second}
	return s
}

// Wait waits for the playbacks in progress (they end with New's context).
func (s *Server) Wait() { s.wg.Wait() }

// query is a validated playback request.
type query struct {
	from, to time.Time
	speed    float64
}

// parseQuery validates from, to and speed; the error says what is wrong.
func parseQuery(r *http.Request, now time.Time) (query, error) {
	var q query
	v := r.URL.Query()
	var err error
	if q.from, err = time.Parse(time.RFC3339, v.Get("from")); err != nil {
		return q, errors.New("from: want an RFC 3339 time, e.g. 2026-11-22T08:00:00+08:00")
	}
	if q.to, err = time.Parse(time.RFC3339, v.Get("to")); err != nil {
		return q, errors.New("to: want an RFC 3339 time, e.g. 2026-11-22T09:00:00+08:00")
	}
	if !q.from.Before(q.to) {
		return q, errors.New("to: must be after from")
	}
	if q.to.Sub(q.from) > MaxRange {
		return q, fmt.Errorf("to: at most %d days after from", int(MaxRange/(24*time.Hour)))
	}
	if !q.from.Before(now) {
		return q, errors.New("from: must be in the past")
	}
	q.speed = 1
	if sp := v.Get("speed"); sp != "" {
		q.speed, err = strconv.ParseFloat(sp, 64)
		if err != nil || !(q.speed >= 1 && q.speed <= MaxSpeed) {
			return q, fmt.Errorf("speed: want a number 1 … %d", MaxSpeed)
		}
	}
	return q, nil
}

// ServeHTTP validates, authenticates and runs one playback.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var q query
	slot := false
	check := func(w http.ResponseWriter, r *http.Request) bool {
		var err error
		if q, err = parseQuery(r, s.now()); err != nil {
			realtime.Refuse(w, http.StatusBadRequest, err.Error())
			return false
		}
		select {
		case s.slots <- struct{}{}:
			slot = true
			return true
		default:
			realtime.Refuse(w, http.StatusServiceUnavailable, fmt.Sprintf("at most %d playbacks at once on this server: try again later", MaxConcurrent))
			return false
		}
	}
	_, ok := s.gw.Admit(w, r, check)
	if !ok {
		if slot {
			<-s.slots
		}
		return
	}
	defer func() { <-s.slots }()
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	defer func() { _ = conn.Close() }()
	if q.to.After(s.now()) {
		q.to = s.now() // the topic holds nothing later
	}
	p := &session{s: s, conn: conn, q: q}
	if err := p.run(s.base); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("playback ended by an error", "err", err)
	}
}

// change is one lifecycle record: an incident's state after it.
type change struct {
	at      time.Time
	id      string
	version int
	inc     json.RawMessage
}

// record is what is decoded of a lifecycle record: not the case, the
// report or the rest.
type record struct {
	IncidentID string          `json:"incident_id"`
	Version    int             `json:"version"`
	Outcome    string          `json:"outcome"`
	Incident   json.RawMessage `json:"incident"`
}

// load reads every partition up to q.to: the latest state of each incident
// before q.from, and the changes from q.from on, in time order.
func (s *Server) load(ctx context.Context, q query) (map[string]change, []change, error) {
	parts, err := kafkabus.Partitions(ctx, s.brokers, s.topic)
	if err != nil {
		return nil, nil, fmt.Errorf("playback: %w", err)
	}
	state := map[string]change{}
	var changes []change
	for _, p := range parts {
		if err := s.readPartition(ctx, p, q, state, &changes); err != nil {
			return nil, nil, err
		}
	}
	sort.SliceStable(changes, func(i, j int) bool { return changes[i].at.Before(changes[j].at) })
	return state, changes, nil
}

func (s *Server) readPartition(ctx context.Context, partition int, q query, state map[string]change, changes *[]change) error {
	first, last, err := kafkabus.Offsets(ctx, s.brokers, s.topic, partition)
	if err != nil {
		return fmt.Errorf("playback: %w", err)
	}
	if last <= first {
		return nil
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: s.brokers, Topic: s.topic, Partition: partition, MaxBytes: 16 << 20, MaxWait: 200 * time.Millisecond})
	defer func() { _ = r.Close() }()
	if err := r.SetOffset(first); err != nil {
		return err
	}
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("playback %s/%d: %w", s.topic, partition, err)
		}
		if m.Time.After(q.to) {
			return nil // records of a partition are in time order (within the producer's clock)
		}
		var rec record
		if err := wire.Unmarshal(m.Value, &rec); err == nil && rec.IncidentID != "" && rec.Outcome != "refused" && len(rec.Incident) > 0 {
			c := change{at: m.Time, id: rec.IncidentID, version: rec.Version, inc: rec.Incident}
			if m.Time.Before(q.from) {
				if old, ok := state[c.id]; !ok || c.version > old.version {
					state[c.id] = c
				}
			} else {
				if len(*changes) >= MaxChanges {
					return fmt.Errorf("more than %d changes between from and to: choose a shorter range", MaxChanges)
				}
				*changes = append(*changes, c)
			}
		}
		if m.Offset >= last-1 {
			return nil
		}
	}
}

// session is one playback connection. Only run writes to conn.
type session struct {
	s    *Server
	conn *websocket.Conn
	q    query
}

type op struct {
	Op    string  `json:"op"`
	Speed float64 `json:"speed"`
}

func (p *session) write(v []byte) error {
	_ = p.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return p.conn.WriteMessage(websocket.TextMessage, v)
}

func (p *session) errorMsg(code, msg string) error {
	b, _ := json.Marshal(map[string]string{"type": "error", "channel": "playback", "code": code, "message": msg})
	return p.write(b)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// openAt returns the incidents open at from (their state then), newest
// first.
func openAt(state map[string]change) []json.RawMessage {
	list := make([]change, 0, len(state))
	for _, c := range state {
		var v struct {
			State string `json:"state"`
		}
		if json.Unmarshal(c.inc, &v) == nil && open(v.State) {
			list = append(list, c)
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].at.After(list[j].at) })
	out := make([]json.RawMessage, len(list))
	for i, c := range list {
		out[i] = c.inc
	}
	return out
}

// open mirrors event.State.Open.
func open(s string) bool {
	switch s {
	case "rejected", "closed", "visited", "rated", "merged":
		return false
	}
	return true
}

// latestOnly returns the changes of one tick with only the last change of
// each incident (in their order): at 30× or 60× a busy period has several
// changes of an incident within a tick, and a screen shows only the last.
func latestOnly(due []change) []change {
	if len(due) < 2 {
		return due
	}
	last := make(map[string]int, len(due))
	for i, c := range due {
		last[c.id] = i
	}
	if len(last) == len(due) {
		return due
	}
	out := make([]change, 0, len(last))
	for i, c := range due {
		if last[c.id] == i {
			out = append(out, c)
		}
	}
	return out
}

func (p *session) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ops := make(chan op, 8)
	go p.readOps(ctx, cancel, ops)

	state, changes, err := p.s.load(ctx, p.q)
	if err != nil {
		_ = p.errorMsg("unavailable", err.Error())
		return err
	}
	// Nothing changes on screen before the period's first change (a quiet
	// night, or a system started within the period): the clock starts just
	// before it instead of playing minutes of a still picture.
	start := p.q.from
	openNow := openAt(state)
	if len(changes) > 0 && changes[0].at.Sub(start) > leadIn {
		start = changes[0].at.Add(-leadIn)
	}
	snap, _ := json.Marshal(map[string]any{"type": "snapshot", "channel": "playback",
		"data": map[string]any{"incidents": openNow, "at": stamp(start)}})
	if err := p.write(snap); err != nil {
		return err
	}

	at, speed, paused := start, p.q.speed, false
	last := time.Now()
	lastClock := time.Time{}
	next := 0
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		now := time.Now()
		if !paused {
			at = at.Add(time.Duration(float64(now.Sub(last)) * speed))
		}
		last = now
		if at.After(p.q.to) {
			at = p.q.to
		}
		due := next
		for due < len(changes) && !changes[due].at.After(at) {
			due++
		}
		for _, c := range latestOnly(changes[next:due]) {
			b := make([]byte, 0, len(c.inc)+96)
			b = append(b, `{"type":"delta","channel":"playback","kind":"incident","at":"`...)
			b = append(b, stamp(c.at)...)
			b = append(b, `","data":`...)
			b = append(b, strings.ToValidUTF8(string(c.inc), "\uFFFD")...)
			b = append(b, '}')
			if err := p.write(b); err != nil {
				return err
			}
		}
		for ; next < due; next++ {
			changes[next].inc = nil
		}
		if now.Sub(lastClock) >= clockEvery || !at.Before(p.q.to) {
			b, _ := json.Marshal(map[string]any{"type": "clock", "channel": "playback", "at": stamp(at), "speed": speed, "paused": paused})
			if err := p.write(b); err != nil {
				return err
			}
			lastClock = now
		}
		if !at.Before(p.q.to) {
			if err := p.write([]byte(`{"type":"end","channel":"playback"}`)); err != nil {
				return err
			}
			_ = p.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "playback ended"), time.Now().Add(time.Second))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case o := <-ops:
			switch o.Op {
			case "pause":
				paused = true
			case "resume":
				paused = false
			case "speed":
				if !(o.Speed >= 1 && o.Speed <= MaxSpeed) {
					if err := p.errorMsg("bad_request", fmt.Sprintf("speed: want a number 1 … %d", MaxSpeed)); err != nil {
						return err
					}
					continue
				}
				speed = o.Speed
			default:
				if err := p.errorMsg("bad_request", `ops: {"op":"speed","speed":n}, {"op":"pause"}, {"op":"resume"}`); err != nil {
					return err
				}
			}
			lastClock = time.Time{} // tell the client the new clock at once
		case <-t.C:
		}
	}
}

// readOps reads client messages (at most 4 KiB each) until the connection
// ends, then cancels the session.
func (p *session) readOps(ctx context.Context, cancel context.CancelFunc, ops chan<- op) {
	defer cancel()
	p.conn.SetReadLimit(4096)
	for {
		_, b, err := p.conn.ReadMessage()
		if err != nil {
			return
		}
		var o op
		if json.Unmarshal(b, &o) != nil {
			o.Op = "?"
		}
		select {
		case ops <- o:
		case <-ctx.Done():
			return
		default: // a client flooding ops loses some
		}
	}
}
