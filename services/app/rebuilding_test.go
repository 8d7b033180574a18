package app

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/citybrain-ioc/citybrain/services/config"
)

// While the all-in-one process rebuilds its projections (no usable
// snapshot), the API's reads and commands answer 503 with the reason and a
// Retry-After; intake, logins, the categories and the map go on. Once
// built, everything answers.
func TestAPIWhileRebuilding(t *testing.T) {
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"DATA_DIR": filepath.Join(t.TempDir(), "data")}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(t.Context(), cfg, Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if err := d.EnsureTopics(t.Context()); err != nil {
		t.Fatal(err)
	}
	fapp, err := d.HTTP("all", prometheus.NewRegistry(), func(context.Context) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string) (int, string, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := fapp.Test(req, 10000)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Retry-After")
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
