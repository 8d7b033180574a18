package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Seen records when each event id first appeared on any wall client (in a
// delta or a snapshot). It is safe for concurrent use.
type Seen struct {
	mu sync.Mutex
	at map[string]time.Time
}

// NewSeen returns an empty record.
func NewSeen() *Seen { return &Seen{at: map[string]time.Time{}} }

func (s *Seen) mark(ids []string, t time.Time) {
	s.mu.Lock()
	for _, id := range ids {
		if _, ok := s.at[id]; !ok {
			s.at[id] = t
		}
	}
	s.mu.Unlock()
}

// At returns when id was first seen.
func (s *Seen) At(id string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.at[id]
	return t, ok
}

// Missing returns the acknowledged ids not seen yet.
func (s *Seen) Missing(acks []Ack) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range acks {
		if _, ok := s.at[a.ID]; !ok {
			out = append(out, a.ID)
		}
	}
	return out
}

// WallClient is one wall screen: it subscribes to the wall channel of a
// realtime instance with a one-time ticket from an api instance, keeps the
// incidents it was sent (snapshot, then deltas by version), and on any
// disconnect reconnects — to the next realtime instance if the current one
// refuses — and resumes from its last sequence number, or reloads the
// snapshot when told to (docs/realtime-protocol.md).
type WallClient struct {
	Name     string
	API      []string // base URLs of api instances (tickets)
	Realtime []string // base URLs of realtime instances
	Prefer   int      // index of the realtime instance to try first
	Seen     *Seen
	// Positions, when set, records when each worker position arrived
	// (PositionKey), from the positions messages.
	Positions *Seen

	mu        sync.Mutex
	incidents map[string]int // id → version
	seq       string
	conn      *websocket.Conn
	trunc     bool      // the last snapshot was cut at its limit …
	oldest    time.Time // … and this was the oldest updated_at in it

	Connects, Resumes, Snapshots, Reloads, Deltas, Disconnects, Drops atomic.Int64
	lastErr                                                           atomic.Value
}

// snapshotLimit is how many incidents a wall snapshot carries at most.
const snapshotLimit = 2000

type wireIncident struct {
	ID        string    `json:"id"`
	Version   int       `json:"version"`
	EventIDs  []string  `json:"event_ids"`
	UpdatedAt time.Time `json:"updated_at"`
}

type wireMsg struct {
	Type    string          `json:"type"`
	Channel string          `json:"channel"`
	Seq     string          `json:"seq"`
	Kind    string          `json:"kind"`
	Code    string          `json:"code"`
	Reason  string          `json:"reason"`
	Data    json.RawMessage `json:"data"`
}

// Run keeps the client connected until ctx ends.
func (w *WallClient) Run(ctx context.Context) {
	w.mu.Lock()
	if w.incidents == nil {
		w.incidents = map[string]int{}
	}
	w.mu.Unlock()
	rt := w.Prefer
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := w.session(ctx, w.API[rt%len(w.API)], w.Realtime[rt%len(w.Realtime)])
		if ctx.Err() != nil {
			return
		}
		w.Disconnects.Add(1)
		if err != nil {
			w.lastErr.Store(err.Error())
		}
		var dialErr dialError
		if errors.As(err, &dialErr) {
			rt++ // that instance is down: the next one
			time.Sleep(backoff)
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		time.Sleep(100 * time.Millisecond)
	}
}

type dialError struct{ err error }

func (e dialError) Error() string { return "dial: " + e.err.Error() }
func (e dialError) Unwrap() error { return e.err }

// Drop closes the connection abruptly (no close frame), as a lost network
// would; Run reconnects and resumes.
func (w *WallClient) Drop() {
	w.mu.Lock()
	c := w.conn
	w.mu.Unlock()
	if c != nil {
		w.Drops.Add(1)
		_ = c.UnderlyingConn().Close()
	}
}

// Connected reports whether the client has a connection.
func (w *WallClient) Connected() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conn != nil
}

// LastError is the error that ended the last session, if any.
func (w *WallClient) LastError() string {
	s, _ := w.lastErr.Load().(string)
	return s
}

func (w *WallClient) session(ctx context.Context, api, realtime string) error {
	var tk struct {
		Ticket string `json:"ticket"`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, api+"/api/v1/auth/ws-ticket", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return dialError{fmt.Errorf("ticket: %w", err)}
	}
	err = json.NewDecoder(resp.Body).Decode(&tk)
	_ = resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || tk.Ticket == "" {
		return dialError{fmt.Errorf("ticket: HTTP %d %v", resp.StatusCode, err)}
	}
	d := websocket.Dialer{Subprotocols: []string{"citybrain.v1", "ticket." + tk.Ticket}, HandshakeTimeout: 10 * time.Second,
		ReadBufferSize: 64 << 10}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, _, err := d.DialContext(dctx, "ws"+strings.TrimPrefix(realtime, "http")+"/ws", nil)
	cancel()
	if err != nil {
		return dialError{err}
	}
	conn.SetReadLimit(64 << 20)
	w.Connects.Add(1)
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	w.mu.Lock()
	w.conn = conn
	since := w.seq
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.conn = nil
		w.mu.Unlock()
		_ = conn.Close()
	}()
	if err := w.subscribe(conn, since); err != nil {
		return err
	}
	for {
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, b, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		now := time.Now()
		var m wireMsg
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("bad message: %w", err)
		}
		switch m.Type {
		case "snapshot":
			var s struct {
				Incidents []wireIncident `json:"incidents"`
			}
			if err := json.Unmarshal(m.Data, &s); err != nil {
				return fmt.Errorf("bad snapshot: %w", err)
			}
			w.Snapshots.Add(1)
			inc := make(map[string]int, len(s.Incidents))
			var oldest time.Time
			for _, x := range s.Incidents {
				inc[x.ID] = x.Version
				w.Seen.mark(x.EventIDs, now)
				if oldest.IsZero() || x.UpdatedAt.Before(oldest) {
					oldest = x.UpdatedAt
				}
			}
			w.mu.Lock()
			w.incidents, w.seq, w.trunc, w.oldest = inc, m.Seq, len(s.Incidents) >= snapshotLimit, oldest
			w.mu.Unlock()
		case "delta":
			w.Deltas.Add(1)
			if m.Kind == "incident" || m.Kind == "remove" {
				var x wireIncident
				if err := json.Unmarshal(m.Data, &x); err != nil {
					return fmt.Errorf("bad delta: %w", err)
				}
				w.Seen.mark(x.EventIDs, now)
				w.mu.Lock()
				if m.Kind == "remove" {
					delete(w.incidents, x.ID)
				} else if x.Version >= w.incidents[x.ID] {
					w.incidents[x.ID] = x.Version
				}
				w.mu.Unlock()
			}
			if m.Kind == "positions" && w.Positions != nil {
				var p struct {
					Workers []struct {
						ID  string  `json:"id"`
						Lon float64 `json:"lon"`
						Lat float64 `json:"lat"`
					} `json:"workers"`
				}
				if err := json.Unmarshal(m.Data, &p); err != nil {
					return fmt.Errorf("bad positions: %w", err)
				}
				keys := make([]string, len(p.Workers))
				for i, x := range p.Workers {
					keys[i] = PositionKey(x.ID, x.Lon, x.Lat)
				}
				w.Positions.mark(keys, now)
			}
			w.mu.Lock()
			if m.Seq != "" {
				w.seq = m.Seq
			}
			w.mu.Unlock()
		case "reload":
			w.Reloads.Add(1)
			w.mu.Lock()
			w.seq = ""
			w.mu.Unlock()
			if err := w.subscribe(conn, ""); err != nil {
				return err
			}
		case "error":
			if m.Code == "unavailable" {
				time.Sleep(200 * time.Millisecond)
				w.mu.Lock()
				since := w.seq
				w.mu.Unlock()
				if err := w.subscribe(conn, since); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("server error %s: %s", m.Code, b)
		}
	}
}

func (w *WallClient) subscribe(conn *websocket.Conn, since string) error {
	msg := map[string]string{"op": "subscribe", "channel": "wall"}
	if since != "" {
		msg["since"] = since
		w.Resumes.Add(1)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return conn.WriteJSON(msg)
}

// Diff compares the client's incidents with the API's: it returns the
// incidents whose version differs, those the client lacks although it
// should have them (its last snapshot was complete, or they changed after
// the oldest incident of a truncated one), and those the API does not have.
func (w *WallClient) Diff(api []Incident) (stale, missing, extra []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	known := make(map[string]bool, len(api))
	for _, inc := range api {
		known[inc.ID] = true
	}
	for id := range w.incidents {
		if !known[id] {
			extra = append(extra, id)
		}
	}
	for _, inc := range api {
		v, ok := w.incidents[inc.ID]
		switch {
		case ok && v != inc.Version:
			stale = append(stale, fmt.Sprintf("%s client v%d api v%d", inc.ID, v, inc.Version))
		case !ok && (!w.trunc || inc.UpdatedAt.After(w.oldest)):
			missing = append(missing, inc.ID)
		}
	}
	return stale, missing, extra
}

// Seq is the last sequence number the client received ("" before any).
func (w *WallClient) Seq() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq
}

// SeqLess orders two stream sequence numbers ("ms-n"); "" sorts first.
func SeqLess(a, b string) bool {
	am, an := splitSeq(a)
	bm, bn := splitSeq(b)
	return am < bm || (am == bm && an < bn)
}

func splitSeq(s string) (uint64, uint64) {
	ms, n, _ := strings.Cut(s, "-")
	a, _ := strconv.ParseUint(ms, 10, 64)
	b, _ := strconv.ParseUint(n, 10, 64)
	return a, b
}

// Len is the number of incidents the client holds.
func (w *WallClient) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.incidents)
}
