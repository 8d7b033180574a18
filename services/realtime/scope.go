package realtime

import (
	"encoding/json"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/event"
)

// channel names a subscription.
type channel uint8

const (
	chWall       channel = iota // city-wide incidents and KPIs; every role
	chDispatcher                // a dispatcher's jurisdiction (town), or the city when unscoped
	chWorker                    // a worker's own tasks and the unassigned incidents of their grid
	numChannels
)

var channelNames = [numChannels]string{"wall", "dispatcher", "worker"}

func (ch channel) String() string {
	if ch < numChannels {
		return channelNames[ch]
	}
	return "?"
}

func parseChannel(s string) (channel, bool) {
	for i, n := range channelNames {
		if n == s {
			return channel(i), true
		}
	}
	return 0, false
}

// allowed reports whether role may subscribe to ch.
func allowed(role string, ch channel) bool {
	switch ch {
	case chWall:
		return role == auth.Viewer || role == auth.Dispatcher || role == auth.Worker || role == auth.Admin
	case chDispatcher:
		return role == auth.Dispatcher || role == auth.Admin
	case chWorker:
		return role == auth.Worker
	}
	return false
}

// scope is where an incident belongs, as far as filtering goes: its town
// and grid codes and the worker its task is assigned to ("" when none).
type scope struct {
	town, grid, worker string
}

// incMeta is what the gateway reads from an incident to route it. It is
// decoded once per delta, however many clients get it.
type incMeta struct {
	id      string
	version int
	open    bool
	task    string // the id of its current task, if any
	scope
}

// decodeMeta reads the routing fields of an incident's JSON. It fails on
// invalid JSON or an incident without an id.
func decodeMeta(data []byte) (incMeta, error) {
	var v struct {
		ID      string      `json:"id"`
		Version int         `json:"version"`
		State   event.State `json:"state"`
		Place   struct {
			Town struct {
				Code string `json:"code"`
			} `json:"town"`
			Grid struct {
				Code string `json:"code"`
			} `json:"grid"`
		} `json:"place"`
		Task *struct {
			ID       string `json:"id"`
			WorkerID string `json:"worker_id"`
		} `json:"task"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return incMeta{}, err
	}
	if v.ID == "" {
		return incMeta{}, errNoID
	}
	m := incMeta{id: v.ID, version: v.Version, open: v.State.Open(), scope: scope{town: v.Place.Town.Code, grid: v.Place.Grid.Code}}
	if v.Task != nil {
		m.worker, m.task = v.Task.WorkerID, v.Task.ID
	}
	return m, nil
}

func metaOf(inc *event.Incident) incMeta {
	m := incMeta{id: inc.ID, version: inc.Version, open: inc.State.Open(), scope: scope{town: inc.Place.Town.Code, grid: inc.Place.Grid.Code}}
	if inc.Task != nil {
		m.worker, m.task = inc.Task.WorkerID, inc.Task.ID
	}
	return m
}

// viewer is who a connection belongs to, from its ticket's claims.
type viewer struct {
	subject string
	role    string
	scope   string // a dispatcher's town code or a worker's grid code; "" is city-wide (dispatchers only)
	expires int64  // when the token the ticket was issued for expires (Unix seconds; 0: never)
	account string // the account's fingerprint (auth.Claims.Account); "" for an anonymous viewer
}

func viewerOf(c auth.Claims) viewer {
	return viewer{subject: c.Subject, role: c.Role, scope: c.Scope, expires: c.ExpiresAt, account: c.Account}
}

// sees reports whether v may receive an incident in s on ch. It is the one
// place the scope rules live; the broadcast indexes (hub.go) are a faster
// way to find the same set and are tested against it.
//
//   - wall: everything;
//   - dispatcher: incidents of the town v.scope, or all when v.scope is "";
//   - worker: incidents whose task is assigned to v, and incidents in v's
//     grid that are not assigned to any worker. An incident assigned to
//     another worker is never sent, even inside v's grid.
func (v *viewer) sees(ch channel, s scope) bool {
	switch ch {
	case chWall:
		return true
	case chDispatcher:
		return v.scope == "" || s.town == v.scope
	case chWorker:
		if s.worker != "" {
			return v.subject != "" && s.worker == v.subject
		}
		return v.scope != "" && s.grid == v.scope
	}
	return false
}
