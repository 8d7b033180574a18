package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// call sends a JSON request as token ("" for none) and returns the status
// and the body.
func (s *server) call(method, path, token string, body any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

type wallMode struct {
	Mode       string `json:"mode"`
	IncidentID string `json:"incident_id"`
	Reason     string `json:"reason"`
	By         string `json:"by"`
	Auto       bool   `json:"auto"`
}

// Issue 6: a severe incident switches the wall to 战时 by itself; people
// switch it by hand, with reasons for bad input; the grid roster logs in,
// reports positions and is suggested for a task by distance.
func TestEndToEndWallModeAndRoster(t *testing.T) {
	s := start(t, t.TempDir(), env(t)...)
	disp := s.login("dispatcher", "dispatcher123")
	worker := s.login("worker", "worker123")

	s.do("POST", "/api/v1/ingest/emergency", "application/json", []byte(`{"alarm_id":"JJ-MODE-1","alarm_type":"119","level":1,"description":"厂房起火","lon":120.15,"lat":32.55}`), nil)
	id := waitFor(t, s, func(items []map[string]any) (string, bool) { return str(items, "source", "emergency") })
	var m wallMode
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, b := s.call("GET", "/api/v1/wall/mode", "", nil)
		_ = json.Unmarshal(b, &m)
		if code == 200 && m.Mode == "emergency" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no automatic emergency: %d %s", code, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m.IncidentID != id || !m.Auto || m.By != "system" || m.Reason == "" {
		t.Fatalf("automatic mode %+v, want emergency for %s", m, id)
	}

	for _, tc := range []struct {
		token string
		body  any
		code  int
		field string
	}{
		{"", map[string]any{"mode": "normal"}, 401, ""},
		{worker, map[string]any{"mode": "normal"}, 403, ""},
		{disp, "not json", 400, "body"},
		{disp, map[string]any{"mode": "war"}, 422, "mode"},
		{disp, map[string]any{"mode": "emergency"}, 422, "incident_id"},
		{disp, map[string]any{"mode": "emergency", "incident_id": "INC-NOPE"}, 422, "incident_id"},
		{disp, map[string]any{"mode": "normal", "reason": strings.Repeat("长", 201)}, 422, "reason"},
	} {
		code, b := s.call("PUT", "/api/v1/wall/mode", tc.token, tc.body)
		var p struct {
			Error  string                   `json:"error"`
			Errors []struct{ Field string } `json:"errors"`
		}
		_ = json.Unmarshal(b, &p)
		if code != tc.code || p.Error == "" || (tc.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tc.field)) {
			t.Errorf("PUT %v: %d %s, want %d on %q", tc.body, code, b, tc.code, tc.field)
		}
	}
	code, b := s.call("PUT", "/api/v1/wall/mode", disp, map[string]any{"mode": "normal", "reason": "演练结束"})
	if code != 200 || json.Unmarshal(b, &m) != nil || m.Mode != "normal" || m.Auto || m.By != "dispatcher" {
		t.Fatalf("PUT normal: %d %s", code, b)
	}
	if _, b := s.call("GET", "/api/v1/wall/mode", "", nil); !strings.Contains(string(b), `"reason":"演练结束"`) {
		t.Fatalf("GET after PUT: %s", b)
	}
	code, b = s.call("PUT", "/api/v1/wall/mode", disp, map[string]any{"mode": "emergency", "incident_id": id, "reason": "指挥长决定"})
	if code != 200 || json.Unmarshal(b, &m) != nil || m.Mode != "emergency" || m.IncidentID != id || m.Auto {
		t.Fatalf("PUT emergency: %d %s", code, b)
	}

	// The grid roster: a patrol worker logs in, reports, is suggested.
	gw := s.login("gw-321204004012004", "worker123")
	if code, b := s.call("POST", "/api/v1/workers/position", gw, map[string]any{"lon": 120.1505, "lat": 32.5503, "on_duty": true}); code != 200 {
		t.Fatalf("roster position: %d %s", code, b)
	}
	code, b = s.call("GET", "/api/v1/tasks/"+id+"/suggestions", disp, nil)
	if code != 200 || !strings.Contains(string(b), `"worker_id":"gw-321204004012004"`) {
		t.Fatalf("suggestions: %d %s", code, b)
	}
}

type situation struct {
	Incident struct {
		ID string `json:"id"`
	} `json:"incident"`
	Resources []struct {
		ID        string   `json:"id"`
		Kind      string   `json:"kind"`
		Name      string   `json:"name"`
		DistanceM float64  `json:"distance_m"`
		EtaS      *float64 `json:"eta_s"`
	} `json:"resources"`
	Workers []struct {
		ID        string  `json:"id"`
		DistanceM float64 `json:"distance_m"`
		EtaS      float64 `json:"eta_s"`
		Assigned  bool    `json:"assigned"`
	} `json:"workers"`
	Grids []struct {
		Code, Name, State, Worker string
	} `json:"grids"`
	Timeline []map[string]any `json:"timeline"`
}

// Issue 6, the command view: the situation of a warning and of a fire.
func TestEndToEndSituation(t *testing.T) {
	s := start(t, t.TempDir(), env(t)...)
	disp := s.login("dispatcher", "dispatcher123")
	if code := s.do("POST", "/api/v1/ingest/cap", "application/cap+xml", []byte(capAlert("32120441600000020261122143000009", "Alert", "", capInfo)), nil); code != 202 {
		t.Fatalf("alert: %d", code)
	}
	warn := waitFor(t, s, func(items []map[string]any) (string, bool) {
		for _, it := range items {
			if it["state"] == "dispatched" && it["inspections"] != nil {
				return it["id"].(string), true
			}
		}
		return "", false
	})
	gw := s.login("gw-321204004012004", "worker123")
	if code, b := s.call("POST", "/api/v1/workers/position", gw, map[string]any{"lon": 120.1505, "lat": 32.5503}); code != 200 {
		t.Fatalf("position: %d %s", code, b)
	}
	var sit situation
	code, b := s.call("GET", "/api/v1/incidents/"+warn+"/situation", disp, nil)
	if code != 200 || json.Unmarshal(b, &sit) != nil || sit.Incident.ID != warn || len(sit.Grids) == 0 || len(sit.Timeline) == 0 {
		t.Fatalf("warning situation: %d %.600s", code, b)
	}
	for _, g := range sit.Grids {
		if g.Name == "" || g.State != "pending" {
			t.Fatalf("grid %+v", g)
		}
	}
	if len(sit.Resources) == 0 || sit.Resources[0].Kind != "shelter" || sit.Resources[0].EtaS == nil {
		t.Fatalf("a warning's resources start with shelters: %.400s", b)
	}

	s.do("POST", "/api/v1/ingest/emergency", "application/json", []byte(`{"alarm_id":"JJ-SIT-1","alarm_type":"119","level":2,"description":"厂房起火","lon":120.15,"lat":32.55}`), nil)
	fire := waitFor(t, s, func(items []map[string]any) (string, bool) {
		for _, it := range items {
			if it["source"] == "emergency" && it["id"] != warn {
				return it["id"].(string), true
			}
		}
		return "", false
	})
	code, b = s.call("GET", "/api/v1/incidents/"+fire+"/situation", "", nil) // the wall (anonymous viewer) may look
	sit = situation{}
	if code != 200 || json.Unmarshal(b, &sit) != nil {
		t.Fatalf("fire situation: %d %s", code, b)
	}
	if len(sit.Resources) < 2 || sit.Resources[0].Kind != "fire_station" || sit.Resources[0].EtaS == nil || *sit.Resources[0].EtaS <= 0 ||
		sit.Resources[0].DistanceM > sit.Resources[1].DistanceM && sit.Resources[1].Kind == "fire_station" {
		t.Fatalf("fire resources: %.600s", b)
	}
	// ETA: straight line × 1.4 at 40 km/h.
	if r := sit.Resources[0]; int(*r.EtaS) != int(r.DistanceM*1.4/(40/3.6)+0.5) {
		t.Errorf("eta %v for %v m", *r.EtaS, r.DistanceM)
	}
	if len(sit.Workers) != 1 || sit.Workers[0].ID != "gw-321204004012004" || sit.Workers[0].Assigned || sit.Workers[0].EtaS <= 0 {
		t.Fatalf("fire workers: %.600s", b)
	}
	// The assigned worker is listed even when farther than 5 km.
	worker := s.login("worker", "worker123")
	if code, b := s.call("POST", "/api/v1/workers/position", worker, map[string]any{"lon": 120.05, "lat": 32.45}); code != 200 {
		t.Fatalf("position: %d %s", code, b)
	}
	var inc struct{ Version int }
	if code, b := s.call("GET", "/api/v1/incidents/"+fire, disp, nil); code != 200 || json.Unmarshal(b, &inc) != nil {
		t.Fatalf("incident: %d", code)
	}
	if code, a := s.act(disp, fire, "reassign", map[string]any{"base_version": inc.Version, "department": "城市管理局", "worker_id": "worker", "reason": "指派"}); code != 200 {
		t.Fatalf("reassign: %d %+v", code, a)
	}
	_, b = s.call("GET", "/api/v1/incidents/"+fire+"/situation", disp, nil)
	sit = situation{}
	_ = json.Unmarshal(b, &sit)
	if n := len(sit.Workers); n != 2 || sit.Workers[1].ID != "worker" || !sit.Workers[1].Assigned || sit.Workers[1].DistanceM < 5000 || sit.Workers[0].Assigned {
		t.Fatalf("workers with the assigned one: %.600s", b)
	}
	if code, b := s.call("GET", "/api/v1/incidents/INC-NOPE/situation", disp, nil); code != 404 || !strings.Contains(string(b), "error") {
		t.Fatalf("unknown incident: %d %s", code, b)
	}
}
