package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
)

// GET /api/v1/console/workers, the console map's worker positions: a
// dispatcher sees the worker who reported a position nearby, nearest first;
// bad coordinates are a 400 with a reason; a worker is refused; no token is
// a 401.
func TestConsoleWorkersNearAPoint(t *testing.T) {
	s := start(t, t.TempDir(), env(t)...)
	disp := s.login("dispatcher", "dispatcher123")
	worker := s.login("worker", "worker123")

	b, _ := json.Marshal(map[string]any{"lon": 120.1210, "lat": 32.5205, "on_duty": true})
	if code := s.authed("POST", "/api/v1/workers/position", worker, b, nil); code != 200 {
		t.Fatalf("position: %d", code)
	}
	var out struct {
		Items []struct {
			ID        string  `json:"id"`
			Name      string  `json:"name"`
			Lon       float64 `json:"lon"`
			Lat       float64 `json:"lat"`
			OnDuty    bool    `json:"on_duty"`
			DistanceM float64 `json:"distance_m"`
		} `json:"items"`
	}
	if code := s.authed("GET", "/api/v1/console/workers?lon=120.12&lat=32.52&radius_m=2000", disp, nil, &out); code != 200 {
		t.Fatalf("console workers: %d", code)
	}
	if len(out.Items) != 1 || out.Items[0].ID != "worker" || !out.Items[0].OnDuty || out.Items[0].DistanceM <= 0 || out.Items[0].DistanceM > 2000 || out.Items[0].Lon < 120.12 {
		t.Fatalf("console workers: %+v", out.Items)
	}
	// Far away: nobody.
	if code := s.authed("GET", "/api/v1/console/workers?lon=120.30&lat=32.40&radius_m=500", disp, nil, &out); code != 200 || len(out.Items) != 0 {
		t.Fatalf("far: %d %+v", code, out.Items)
	}
	var problem struct {
		Error string `json:"error"`
	}
	for _, q := range []string{"lon=x&lat=32.5", "lon=200&lat=32.5", "lat=32.5", "lon=120.1&lat=32.5&radius_m=0", "lon=120.1&lat=32.5&radius_m=NaN"} {
		if code := s.authed("GET", "/api/v1/console/workers?"+q, disp, nil, &problem); code != 400 || problem.Error == "" {
			t.Fatalf("%s: %d %+v, want 400 with a reason", q, code, problem)
		}
	}
	if code := s.authed("GET", "/api/v1/console/workers?lon=120.12&lat=32.52", worker, nil, nil); code != 403 {
		t.Fatalf("worker: %d, want 403", code)
	}
	if code := s.authed("GET", "/api/v1/console/workers?lon=120.12&lat=32.52", "", nil, nil); code != 401 {
		t.Fatalf("no token: %d, want 401", code)
	}
}

// authed sends a request with a bearer token (none if empty) and decodes a JSON answer into out.
func (s *server) authed(method, path, token string, body []byte, out any) int {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}
