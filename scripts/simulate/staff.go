package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/citybrain-ioc/citybrain/services/auth"
)

// Staff plays the people of the loop through the public API, so that a
// demo city closes cases as a real one does: a dispatcher files and
// assigns 12345 tickets, each case goes to the duty worker of its grid
// cell (网格化管理: the demo worker 李明 in his own cell, the grid roster's
// "gw-<grid code>" elsewhere) — a fire, a gas leak, a medical emergency, a
// police matter or a traffic accident stays with its department, whose
// duty officer takes it (ownCases) —, who accepts, starts and handles it,
// and the dispatcher verifies, closes and records the 回访 rating.
// Each tick moves at most Per cases one step, the cases that have waited
// longest first, and only a case that has been in its state for its dwell
// (dwell: from a few seconds to a minute, different for every case and
// step: people take their time), so that a city fed at a steady rate has
// a steady number of cases open instead of a backlog that only grows.
type Staff struct {
	URL    string
	Client *http.Client
	Per    int
	r      *rand.Rand
	tokens map[string]string
	now    func() time.Time
	failed map[string]int // a case whose step was refused (not a 409), at that version: not tried again until it changes
}

// demoDepartment is the demo workers' department (auth.DemoUsers), for a
// task that names none.
const demoDepartment = "城市管理局"

// staffLogins are the demo accounts the staff logs in as at the start; it
// logs in as a roster worker ("gw-<grid code>", the demo workers'
// password) when it first acts as one.
var staffLogins = map[string]string{"dispatcher": "dispatcher123", "worker": "worker123", "worker2": "worker123"}

// demoWorkerGrid is the grid cell of the demo worker "worker" (李明, whose
// phone a visitor opens): his cell's cases are his (auth.DemoUsers).
const demoWorkerGrid = "321204004012004"

// rosterPrefix starts the user name of a grid roster worker (auth.GridRoster).
const rosterPrefix = "gw-"

// dutyPrefix starts the user name of a department's duty officer
// (auth.DutyOfficers).
const dutyPrefix = "duty-"

func password(user string) string {
	if p, ok := staffLogins[user]; ok {
		return p
	}
	return "worker123" // the roster's (auth.DemoWorkerPassword)
}

// NewStaff logs in as the demo dispatcher and workers.
func NewStaff(ctx context.Context, url string, c *http.Client, per int, seed uint64) (*Staff, error) {
	s := &Staff{URL: url, Client: c, Per: per, r: rand.New(rand.NewPCG(seed, seed+1)), tokens: map[string]string{}, now: time.Now, failed: map[string]int{}}
	for user := range staffLogins {
		if err := s.login(ctx, user); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Staff) login(ctx context.Context, user string) error {
	var out struct{ Token string }
	if err := s.call(ctx, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"username": user, "password": password(user)}, &out); err != nil {
		return fmt.Errorf("login %s: %w", user, err)
	}
	s.tokens[user] = out.Token
	return nil
}

// dwell is how long a case stays in a state before the staff moves it:
// 5–60 s, the same for a case's step on every run.
func dwell(id string, version int) time.Duration {
	h := fnv.New32a()
	_, _ = fmt.Fprintf(h, "%s/%d", id, version)
	return 5*time.Second + time.Duration(h.Sum32()%55_000)*time.Millisecond
}

type staffTask struct {
	ID        string          `json:"id"`
	Version   int             `json:"version"`
	State     string          `json:"state"`
	UpdatedAt time.Time       `json:"updated_at"`
	Category  string          `json:"category"`
	Area      json.RawMessage `json:"area"` // a CAP warning's area
	Task      *struct {
		WorkerID   string `json:"worker_id"`
		Department string `json:"department"`
	} `json:"task"`
	Place struct {
		Grid struct {
			Code string `json:"code"`
		} `json:"grid"`
	} `json:"place"`
}

// staffPage is how many of the oldest open cases a tick looks at.
const staffPage = 300

// Tick moves some cases one step each: the open ones that have waited
// longest, then closed ones for their 回访.
func (s *Staff) Tick(ctx context.Context) error {
	var list struct {
		Items []staffTask
		Total int
	}
	if err := s.as(ctx, "dispatcher", http.MethodGet, "/api/v1/incidents?state=open&limit=1", nil, &list); err != nil {
		return err
	}
	// The list is newest first: the last page holds the oldest.
	path := fmt.Sprintf("/api/v1/incidents?state=open&limit=%d&offset=%d", staffPage, max(0, list.Total-staffPage))
	if err := s.as(ctx, "dispatcher", http.MethodGet, path, nil, &list); err != nil {
		return err
	}
	cases := slices.Clone(list.Items)
	slices.Reverse(cases)
	list.Items = nil
	if err := s.as(ctx, "dispatcher", http.MethodGet, fmt.Sprintf("/api/v1/incidents?state=closed&limit=%d", s.Per), nil, &list); err != nil {
		return err
	}
	slices.Reverse(list.Items)
	cases = append(cases, list.Items...)
	moved := 0
	var first error
	for _, inc := range cases {
		if moved >= s.Per {
			break
		}
		if len(inc.Area) > 0 && string(inc.Area) != "null" {
			// A warning (CAP, with an area) is in force until it expires
			// or its sender cancels it: nobody handles and closes it. Its
			// grids' inspections are the workers' part.
			continue
		}
		if s.now().Sub(inc.UpdatedAt) < dwell(inc.ID, inc.Version) || s.failed[inc.ID] == inc.Version {
			continue
		}
		who, action, body := s.next(inc)
		if action == "" {
			continue
		}
		body["base_version"] = inc.Version
		err := s.as(ctx, who, http.MethodPost, "/api/v1/tasks/"+inc.ID+"/"+action, body, nil)
		if se := (*statusError)(nil); errors.As(err, &se) && se.code != http.StatusConflict { // a 409: someone acted first
			s.failed[inc.ID] = inc.Version
			if first == nil {
				first = fmt.Errorf("%s %s: %w", action, inc.ID, err)
			}
		}
		moved++
	}
	if len(s.failed) > 10_000 {
		clear(s.failed)
	}
	return first
}

// as calls the API as user, logging in first if it has not yet, and again
// once when its token is refused (it expired: the simulator runs for days;
// or the server lost its accounts' state).
func (s *Staff) as(ctx context.Context, user, method, path string, in, out any) error {
	if s.tokens[user] == "" {
		if err := s.login(ctx, user); err != nil {
			return err
		}
	}
	err := s.call(ctx, s.tokens[user], method, path, in, out)
	if se := (*statusError)(nil); errors.As(err, &se) && se.code == http.StatusUnauthorized {
		if err := s.login(ctx, user); err != nil {
			return err
		}
		return s.call(ctx, s.tokens[user], method, path, in, out)
	}
	return err
}

// ownCases are the categories whose department handles them itself (联动单位:
// the fire brigade, the gas company's emergency crew, the ambulance service,
// the police, the traffic police): the dispatcher leaves the task with the
// department, whose duty officer takes it (auth.DutyOfficers), instead of
// handing it to a grid worker.
var ownCases = map[string]bool{"emergency.fire": true, "emergency.gas_leak": true, "emergency.medical": true,
	"emergency.public_security": true, "traffic.accident": true}

// next is the step a case's state asks for, and who takes it.
func (s *Staff) next(inc staffTask) (string, string, map[string]any) {
	worker, dept := "", ""
	if inc.Task != nil {
		worker, dept = inc.Task.WorkerID, inc.Task.Department
	}
	mine := worker == "worker" || worker == "worker2" || strings.HasPrefix(worker, rosterPrefix) || strings.HasPrefix(worker, dutyPrefix)
	own := ownCases[inc.Category]
	switch inc.State {
	case "received":
		return "dispatcher", "file", map[string]any{}
	case "filed", "reopened": // reopened: the caller was not satisfied (回访), the work is done again
		if own { // to the department routing names, for its duty officer to take
			return "dispatcher", "dispatch", map[string]any{}
		}
		return "dispatcher", "dispatch", map[string]any{"worker_id": gridWorker(inc.Place.Grid.Code)}
	case "dispatched":
		if own && worker == "" && dept != "" {
			return auth.DutyID(dept), "accept", map[string]any{} // the department's duty officer 签收
		}
		if !mine {
			// Auto-dispatch gives a task to a department (a grid report to
			// its reporter): the dispatcher hands it, in its department, to
			// the duty worker of its cell — or, a department's own case, to
			// the department's duty officer —, who can log in.
			if dept == "" {
				dept = demoDepartment
			}
			if own {
				return "dispatcher", "reassign", map[string]any{"worker_id": auth.DutyID(dept), "department": dept, "reason": "转联动单位值班员处置"}
			}
			return "dispatcher", "reassign", map[string]any{"worker_id": gridWorker(inc.Place.Grid.Code), "department": dept, "reason": "指派网格员处置"}
		}
		return worker, "accept", map[string]any{}
	case "accepted":
		if mine {
			return worker, "start", map[string]any{}
		}
	case "in_progress":
		if mine {
			return worker, "handle", map[string]any{"note": "已到现场处置完毕"}
		}
	case "handled":
		if s.r.IntN(10) == 0 {
			return "dispatcher", "send_back", map[string]any{"reason": "核查未通过"}
		}
		return "dispatcher", "verify", map[string]any{}
	case "verified":
		return "dispatcher", "close", map[string]any{}
	case "closed":
		rating := []int{5, 5, 5, 5, 5, 4, 4, 4, 3, 2}[s.r.IntN(10)] // most callers satisfied; a 2 reopens the case
		return "dispatcher", "visit", map[string]any{"rating": rating}
	}
	return "", "", nil
}

// gridWorker is the worker a case in grid cell g goes to: the demo worker
// 李明 in his own cell, the roster's worker of any other cell, and the demo
// worker 赵强 (no cell of his own) for a case outside every cell.
func gridWorker(g string) string {
	switch g {
	case demoWorkerGrid:
		return "worker"
	case "":
		return "worker2"
	default:
		return rosterPrefix + g
	}
}

func (s *Staff) call(ctx context.Context, token, method, path string, in, out any) error {
	return Call(ctx, s.Client, s.URL, token, method, path, in, out)
}

// Call sends in as JSON to the API at base (with the bearer token unless
// it is empty) and decodes a 2xx answer into out (when not nil). An answer
// of 300 or above is an error whose code Status gives.
func Call(ctx context.Context, client *http.Client, base, token, method, path string, in, out any) error {
	var body *bytes.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	resp, err := client.Do(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return &statusError{code: resp.StatusCode, msg: fmt.Sprintf("%s %s: %s %s", method, path, resp.Status, bytes.TrimSpace(b))}
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// Status is the HTTP status of an error Call returned for the API's
// answer, 0 for any other error (none sent, no answer).
func Status(err error) int {
	if se := (*statusError)(nil); errors.As(err, &se) {
		return se.code
	}
	return 0
}
