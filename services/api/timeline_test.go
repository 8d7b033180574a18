package api

import (
	"fmt"
	"testing"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
)

func TestFoldReports(t *testing.T) {
	entry := func(v int, action, outcome string) redisstore.AuditEntry {
		return redisstore.AuditEntry{Lifecycle: event.Lifecycle{Version: v, Action: action, Outcome: outcome}}
	}
	tl := []redisstore.AuditEntry{
		entry(1, "receive", ""), entry(2, "add_report", ""), entry(3, "add_report", ""), entry(4, "add_report", ""),
		entry(5, "dispatch", ""), entry(6, "add_report", ""), entry(6, "accept", "refused"), entry(7, "add_report", ""), entry(8, "add_report", ""),
	}
	var got []string
	for _, e := range foldReports(tl) {
		got = append(got, fmt.Sprintf("%s/v%d×%d", e.Action, e.Version, e.Repeats))
	}
	want := []string{"receive/v1×0", "add_report/v4×3", "dispatch/v5×0", "add_report/v6×0", "accept/v6×0", "add_report/v8×2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("folded\n got %v\nwant %v", got, want)
	}
	if len(foldReports(nil)) != 0 {
		t.Fatal("nil timeline")
	}
}
