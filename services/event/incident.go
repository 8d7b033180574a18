package event

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/paulmach/orb/geojson"

	"github.com/citybrain-ioc/citybrain/gis"
)

// State is a case state (GB/T 30428 and the 12345 workflow).
type State string

// Case states. The dispatcher's state machine decides which transitions
// are allowed; these are only the names.
const (
	Received           State = "received"
	Filed              State = "filed"
	Rejected           State = "rejected"
	Dispatched         State = "dispatched"
	Accepted           State = "accepted"
	InProgress         State = "in_progress"
	Suspended          State = "suspended"
	ExtensionRequested State = "extension_requested"
	Returned           State = "returned"
	Handled            State = "handled"
	Verified           State = "verified"
	Closed             State = "closed"
	Visited            State = "visited"
	Rated              State = "rated"
	Reopened           State = "reopened"
	Merged             State = "merged"
)

// Valid reports whether s is one of the case states.
func (s State) Valid() bool {
	switch s {
	case Received, Filed, Rejected, Dispatched, Accepted, InProgress, Suspended, ExtensionRequested,
		Returned, Handled, Verified, Closed, Visited, Rated, Reopened, Merged:
		return true
	}
	return false
}

// Open reports whether a case in this state still needs work.
func (s State) Open() bool {
	switch s {
	case Rejected, Closed, Visited, Rated, Merged:
		return false
	}
	return true
}

// Actor is who did something: a user id and role, or "system".
type Actor struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

// TaskRef is the current task of an incident, as shown with it.
type TaskRef struct {
	ID         string    `json:"id"`
	State      State     `json:"state"`
	Department string    `json:"department"`
	WorkerID   string    `json:"worker_id,omitempty"`
	Deadline   time.Time `json:"deadline"`
}

// Incident (案件) is what the city acts on: one or more fused events. It is
// the read model the API and the websocket serve.
type Incident struct {
	ID           string         `json:"id"`
	Version      int            `json:"version"`
	State        State          `json:"state"`
	Category     string         `json:"category"`
	CategoryName string         `json:"category_name"`
	Severity     int            `json:"severity"`
	Title        string         `json:"title"`
	Description  string         `json:"description,omitempty"`
	Source       Source         `json:"source"`
	Sources      map[Source]int `json:"sources"`
	EventCount   int            `json:"event_count"` // reports fused, all of them
	// EventIDs are the ids of the first report and the latest ones, at most
	// MaxEventIDs (see WithEventID); the store's reports of the incident
	// have them all.
	EventIDs  []string  `json:"event_ids"`
	Location  *Point    `json:"location"`
	Address   string    `json:"address,omitempty"`
	Place     gis.Place `json:"place"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	UpdatedAt time.Time `json:"updated_at"`
	Task      *TaskRef  `json:"task,omitempty"`
	// Counters of the case loop (see casestate.Case).
	ReworkCount     int    `json:"rework_count,omitempty"`     // 返工
	ReopenCount     int    `json:"reopen_count,omitempty"`     // 发回重办
	EscalationLevel int    `json:"escalation_level,omitempty"` // 督办
	Rating          int    `json:"rating,omitempty"`           // 好差评 1 (非常不满意) … 5 (非常满意)
	MergedInto      string `json:"merged_into,omitempty"`
	// Inspections are the 巡查 tasks of a warning: one per grid cell inside
	// its area, for the grid's duty worker.
	Inspections []Inspection `json:"inspections,omitempty"`
	// Warning area of a CAP alert and the grid cells inside it.
	Area          *geojson.Geometry `json:"area,omitempty"`
	AffectedGrids []string          `json:"affected_grids,omitempty"`
	Expires       *time.Time        `json:"expires,omitempty"`
}

// Inspection is the inspection task of one grid cell under a warning.
type Inspection struct {
	Grid  string    `json:"grid"`
	State string    `json:"state"` // pending, done, cancelled
	By    string    `json:"by,omitempty"`
	Note  string    `json:"note,omitempty"`
	At    time.Time `json:"at,omitzero"`
}

// Lifecycle is one state change of an incident: the message on the tasks
// topic and the audit trail. Key: the incident id. ID is unique per
// (incident, version), so a re-delivered or re-produced lifecycle event is
// recognisably the same one.
type Lifecycle struct {
	Schema     int       `json:"schema"`
	ID         string    `json:"id"`
	IncidentID string    `json:"incident_id"`
	TaskID     string    `json:"task_id,omitempty"`
	Version    int       `json:"version"`
	Action     string    `json:"action"`
	From       State     `json:"from,omitempty"`
	To         State     `json:"to"`
	Actor      Actor     `json:"actor"`
	At         time.Time `json:"at"`
	Reason     string    `json:"reason,omitempty"`
	// CommandID names the command this change answers; Outcome is
	// "refused" for a command the state machine refused (then Version is
	// the unchanged current version and Refusal says why), else empty.
	CommandID string   `json:"command_id,omitempty"`
	Outcome   string   `json:"outcome,omitempty"`
	Refusal   string   `json:"refusal,omitempty"`
	Code      string   `json:"code,omitempty"` // refusal kind: stale, forbidden, not_allowed, invalid
	Note      string   `json:"note,omitempty"`
	Photos    []string `json:"photos,omitempty"`
	Rating    int      `json:"rating,omitempty"`
	// Report is the event this change added (receive, add_report), so the
	// incident's fused reports are rebuilt with the projection.
	Report *Event `json:"report,omitempty"`
	// Case is the dispatcher's full case state after the change
	// (casestate.Case, JSON), so the dispatcher's state is rebuilt with the
	// projection.
	Case        json.RawMessage `json:"case,omitempty"`
	EventID     string          `json:"event_id,omitempty"`     // the event this change added, if any
	EventSource Source          `json:"event_source,omitempty"` // its source
	// A split (拆分) takes a report out of one incident and opens a new one
	// for it: SplitEvent is the report taken out (on the old incident's
	// change), SplitFrom the incident it came from (on the new incident's
	// changes; the report was counted when it first arrived, not again).
	SplitEvent string `json:"split_event,omitempty"`
	SplitFrom  string `json:"split_from,omitempty"`
	// Incident is the full state after this change, so a projection is
	// rebuilt by applying the latest version of each incident.
	Incident Incident `json:"incident"`
}

// MaxEventIDs bounds an incident's EventIDs. Every change of an incident
// carries its snapshot (the tasks topic, kept for ever, and every websocket
// delta), so an unbounded list would make a storm of calls about one burst
// main — thousands of reports fused into one incident — cost the square of
// its size on disk and on the wire.
const MaxEventIDs = 50

// WithEventID returns ids with id appended, as a new slice (ids may be
// shared with the snapshot it came from). Past MaxEventIDs it keeps the
// first id (the incident's first report, which Open311 names it by) and
// the latest ones, so the change that adds a report always lists it.
func WithEventID(ids []string, id string) []string {
	return FirstAndLatest(append(slices.Clip(ids), id), MaxEventIDs)
}

// FirstAndLatest returns s if it has at most n elements, else a new slice
// of its first element and its last n-1 (n ≥ 1): an incident's first
// report and its latest ones.
func FirstAndLatest[T any](s []T, n int) []T {
	if len(s) <= n {
		return s
	}
	out := make([]T, 0, n)
	out = append(out, s[0])
	return append(out, s[len(s)-(n-1):]...)
}
