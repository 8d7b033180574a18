package app

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/citybrain-ioc/citybrain/services/api"
)

// The OpenAPI document describes exactly the routes the server has: every
// API route is in it, and everything in it is a route (or one of the
// net/http handlers beside fiber).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	_, fapp := openAll(t, nil)
	param := regexp.MustCompile(`:([a-z_]+)`)
	routes := map[string]bool{}
	for _, r := range fapp.GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || !strings.HasPrefix(r.Path, "/api/") && !strings.HasPrefix(r.Path, "/open311/") && r.Path != "/livez" && r.Path != "/readyz" {
			continue // the UI's pages and assets
		}
		routes[r.Method+" "+param.ReplaceAllString(r.Path, "{$1}")] = true
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	beside := map[string]bool{"GET /metrics": true} // served by net/http, not fiber
	var missing, extra []string
	for r := range routes {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !routes[r] && !beside[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("openapi.json is out of date\nroutes not documented: %v\ndocumented but not routes: %v", missing, extra)
	}
}
