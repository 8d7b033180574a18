package app

import (
	"strings"
	"testing"
)

// While the all-in-one process rebuilds its projections (no usable
// snapshot), the API's reads and commands answer 503 with the reason and a
// Retry-After; intake, logins, the categories and the map go on. Once
// built, everything answers.
func TestAPIWhileRebuilding(t *testing.T) {
	d, fapp := openAll(t, nil)
	if err := d.EnsureTopics(t.Context()); err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string) (int, string, string) {
		code, answer, h := call(t, fapp, method, path, "", body)
		return code, answer, h.Get("Retry-After")
	}
	for _, p := range []struct{ method, path string }{
		{"GET", "/api/v1/incidents"}, {"GET", "/api/v1/stats/summary"}, {"POST", "/api/v1/auth/ws-ticket"}, {"GET", "/api/v1/tasks"},
	} {
		if code, body, retry := do(p.method, p.path, ""); code != 503 || retry != "5" || !strings.Contains(body, "being restored from the event log") {
			t.Errorf("%s %s while rebuilding: %d %q (Retry-After %q)", p.method, p.path, code, body, retry)
		}
	}
	if code, body, _ := do("POST", "/api/v1/ingest/hotline", `{"ticket_no":"GD-REBUILD-1","appeal_type":"投诉","category":"物业管理","content":"物业不作为","address":"三水街道","lon":120.12,"lat":32.52}`); code != 202 {
		t.Errorf("intake while rebuilding: %d %s", code, body)
	}
	if code, body, _ := do("POST", "/api/v1/auth/login", `{"username":"dispatcher","password":"dispatcher123"}`); code != 200 {
		t.Errorf("login while rebuilding: %d %s", code, body)
	}
	for _, p := range []string{"/api/v1/categories", "/api/v1/gis/layers", "/api/v1/auth/info"} {
		if code, body, _ := do("GET", p, ""); code != 200 {
			t.Errorf("GET %s while rebuilding: %d %s", p, code, body)
		}
	}
	if err := d.Store.SetBuilt(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := do("GET", "/api/v1/incidents", ""); code != 200 {
		t.Errorf("GET /api/v1/incidents once built: %d %s", code, body)
	}
}
