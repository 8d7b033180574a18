package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"
)

// Staff plays the people of the loop through the public API, so that a
// demo city closes cases as a real one does: a dispatcher files and
// assigns 12345 tickets, the demo workers accept, start and handle their
// tasks, and the dispatcher verifies, closes and records the 回访 rating.
// Each tick moves at most Per cases one step.
type Staff struct {
	URL    string
	Client *http.Client
	Per    int
	r      *rand.Rand
	tokens map[string]string
}

// NewStaff logs in as the demo dispatcher and workers.
func NewStaff(ctx context.Context, url string, c *http.Client, per int, seed uint64) (*Staff, error) {
	s := &Staff{URL: url, Client: c, Per: per, r: rand.New(rand.NewPCG(seed, seed+1)), tokens: map[string]string{}}
	for user, pass := range map[string]string{"dispatcher": "dispatcher123", "worker": "worker123", "worker2": "worker123"} {
		var out struct{ Token string }
		if err := s.call(ctx, "", http.MethodPost, "/api/v1/auth/login", map[string]string{"username": user, "password": pass}, &out); err != nil {
			return nil, fmt.Errorf("login %s: %w", user, err)
		}
		s.tokens[user] = out.Token
	}
	return s, nil
}

type staffTask struct {
	ID      string          `json:"id"`
	Version int             `json:"version"`
	State   string          `json:"state"`
	Area    json.RawMessage `json:"area"` // a CAP warning's area
	Task    *struct {
		WorkerID string `json:"worker_id"`
	} `json:"task"`
}

// Tick moves some open cases one step each.
func (s *Staff) Tick(ctx context.Context) error {
	var list struct{ Items []staffTask }
	if err := s.call(ctx, s.tokens["dispatcher"], http.MethodGet, "/api/v1/incidents?limit=300&state=all", nil, &list); err != nil {
		return err
	}
	moved := 0
	for i := len(list.Items) - 1; i >= 0; i-- { // oldest first
		inc := list.Items[i]
		if moved >= s.Per {
			break
		}
		if len(inc.Area) > 0 && string(inc.Area) != "null" {
			// A warning (CAP, with an area) is in force until it expires
			// or its sender cancels it: nobody handles and closes it. Its
			// grids' inspections are the workers' part.
			continue
		}
		who, action, body := s.next(inc)
		if action == "" {
			continue
		}
		body["base_version"] = inc.Version
		_ = s.call(ctx, s.tokens[who], http.MethodPost, "/api/v1/tasks/"+inc.ID+"/"+action, body, nil) // a 409 is fine: someone acted first
		moved++
	}
	return nil
}

// next is the step a case's state asks for, and who takes it.
func (s *Staff) next(inc staffTask) (string, string, map[string]any) {
	worker := ""
	if inc.Task != nil {
		worker = inc.Task.WorkerID
	}
	mine := worker == "worker" || worker == "worker2"
	switch inc.State {
	case "received":
		return "dispatcher", "file", map[string]any{}
	case "filed":
		return "dispatcher", "dispatch", map[string]any{"worker_id": []string{"worker", "worker2"}[s.r.IntN(2)]}
	case "dispatched":
		if !mine {
			return "dispatcher", "reassign", map[string]any{"worker_id": []string{"worker", "worker2"}[s.r.IntN(2)], "reason": "指派网格员处置"}
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
		rating := []int{5, 5, 4, 4, 4, 3, 2}[s.r.IntN(7)]
		return "dispatcher", "visit", map[string]any{"rating": rating}
	}
	return "", "", nil
}

func (s *Staff) call(ctx context.Context, token, method, path string, in, out any) error {
	var body *bytes.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	} else {
		body = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	resp, err := s.Client.Do(req.WithContext(ctx))
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}
