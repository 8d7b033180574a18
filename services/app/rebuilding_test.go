package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/citybrain-ioc/citybrain/services/api"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

// While the projections are rebuilt (an all-in-one start with no usable
// snapshot; in a cluster, a dispatcher replaying the tasks topic into a
// lost Redis), the API's reads and commands and Open311's reads answer 503
// with the reason, the rebuild's progress and a Retry-After; intake,
// logins, the categories and the map go on. Once built, everything
// answers.
func TestAPIWhileRebuilding(t *testing.T) {
	d, all := openAll(t, nil)
	if err := d.EnsureTopics(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A cluster's api target on the same store: it holds back as the
	// all-in-one process does.
	apiOnly, err := d.HTTP("api", prometheus.NewRegistry(), func(context.Context) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	since := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	if err := d.Store.SetRebuildProgress(t.Context(), redisstore.RebuildProgress{Done: 5000, Total: 20000, Since: since}); err != nil {
		t.Fatal(err)
	}
	for name, fapp := range map[string]*fiber.App{"all": all, "api": apiOnly} {
		do := func(method, path, body string) (int, string, string) {
			code, answer, h := call(t, fapp, method, path, "", body)
			return code, answer, h.Get("Retry-After")
		}
		for _, p := range []struct{ method, path string }{
			{"GET", "/api/v1/incidents"}, {"GET", "/api/v1/stats/summary"}, {"POST", "/api/v1/auth/ws-ticket"}, {"GET", "/api/v1/tasks"},
		} {
			code, body, retry := do(p.method, p.path, "")
			var pr api.Problem
			_ = json.Unmarshal([]byte(body), &pr)
			if code != 503 || retry != restoringRetryAfter || pr.Code != api.CodeRestoring || !strings.Contains(pr.Error, "being restored from the event log after a restart: 25% (5000 of 20000 records)") ||
				pr.Progress == nil || *pr.Progress != (redisstore.RebuildProgress{Done: 5000, Total: 20000, Since: since}) {
				t.Errorf("%s: %s %s while rebuilding: %d %q (Retry-After %q)", name, p.method, p.path, code, body, retry)
			}
		}
		if code, body, _ := do("POST", "/api/v1/auth/login", `{"username":"dispatcher","password":"dispatcher123"}`); code != 200 {
			t.Errorf("%s: login while rebuilding: %d %s", name, code, body)
		}
		for _, p := range []string{"/api/v1/categories", "/api/v1/gis/layers", "/api/v1/auth/info"} {
			if code, body, _ := do("GET", p, ""); code != 200 {
				t.Errorf("%s: GET %s while rebuilding: %d %s", name, p, code, body)
			}
		}
	}
	do := func(method, path, body string) (int, string, string) {
		code, answer, h := call(t, all, method, path, "", body)
		return code, answer, h.Get("Retry-After")
	}
	if code, body, _ := do("POST", "/api/v1/ingest/hotline", `{"ticket_no":"GD-REBUILD-1","appeal_type":"投诉","category":"物业管理","content":"物业不作为","address":"三水街道","lon":120.12,"lat":32.52}`); code != 202 {
		t.Errorf("intake while rebuilding: %d %s", code, body)
	}
	// Open311: a request is taken, its status waits (in the format asked).
	code, body, _ := do("POST", "/open311/v2/requests.json", `{"service_code":"city.component.road","lat":32.51,"long":120.13,"description":"路面坑洼"}`)
	if code != 201 {
		t.Errorf("Open311 POST while rebuilding: %d %s", code, body)
	}
	for _, p := range []string{"/open311/v2/requests.json", "/open311/v2/requests/GD-REBUILD-1.json", "/open311/v2/requests.xml"} {
		code, body, retry := do("GET", p, "")
		if code != 503 || retry != restoringRetryAfter || !strings.Contains(body, "25% (5000 of 20000 records)") || strings.HasSuffix(p, ".xml") != strings.Contains(body, "<errors>") {
			t.Errorf("GET %s while rebuilding: %d %q (Retry-After %q)", p, code, body, retry)
		}
	}
	if err := d.Store.SetBuilt(t.Context()); err != nil {
		t.Fatal(err)
	}
	if busy, prog, err := d.Store.Restoring(t.Context()); busy || prog != nil || err != nil {
		t.Errorf("Restoring once built: %v %v %v", busy, prog, err)
	}
	// Each process asks the store again within restoringRecheck.
	for name, fapp := range map[string]*fiber.App{"all": all, "api": apiOnly} {
		deadline := time.Now().Add(restoringRecheck + 2*time.Second)
		for {
			code, body, _ := call(t, fapp, "GET", "/api/v1/incidents", "", "")
			if code == 200 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: GET /api/v1/incidents once built: %d %s", name, code, body)
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if code, body, _ := do("GET", "/open311/v2/requests.json", ""); code != 200 {
		t.Errorf("Open311 GET once built: %d %s", code, body)
	}
}

// The metrics say whether the projections are being rebuilt and how far,
// as the API's 503 does.
func TestRestoringMetrics(t *testing.T) {
	d, _ := openAll(t, nil)
	c := newRestoringCollector(d.Store)
	want := func(busy, done, total int) string {
		return fmt.Sprintf(`
# HELP citybrain_projections_restoring 1 while the projections are being rebuilt from Kafka (the API's reads answer 503 restoring), else 0.
# TYPE citybrain_projections_restoring gauge
citybrain_projections_restoring %d
# HELP citybrain_rebuild_records_replayed Records of the tasks topic the running rebuild has replayed (0 when none runs).
# TYPE citybrain_rebuild_records_replayed gauge
citybrain_rebuild_records_replayed %d
# HELP citybrain_rebuild_records_to_replay Records of the tasks topic the running rebuild replays in all (0 when none runs or it has not said yet).
# TYPE citybrain_rebuild_records_to_replay gauge
citybrain_rebuild_records_to_replay %d
`, busy, done, total)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want(1, 0, 0))); err != nil {
		t.Errorf("not built, no progress yet: %v", err)
	}
	if err := d.Store.SetRebuildProgress(t.Context(), redisstore.RebuildProgress{Done: 5000, Total: 41082, Since: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want(1, 5000, 41082))); err != nil {
		t.Errorf("rebuilding: %v", err)
	}
	if err := d.Store.SetBuilt(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want(0, 0, 0))); err != nil {
		t.Errorf("built: %v", err)
	}
}
