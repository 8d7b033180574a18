package routing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/event"
)

var shanghai, _ = time.LoadLocation("Asia/Shanghai")

func at(s string) time.Time {
	t, _ := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
	return t
}

func TestDefaultRules(t *testing.T) {
	r, err := Default(shanghai)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ev       event.Event
		rule     string
		auto     bool
		deadline time.Time
		from     time.Time
	}{
		// A 12345 complaint on Friday 16:00: 15 working days of 9 h, across weekends.
		{event.Event{Source: event.Hotline, Kind: "投诉", Category: "city.environment.noise"}, "12345 投诉举报建议 15 个工作日", false, at("2026-11-27 08:30").AddDate(0, 0, 21).Add(-time.Hour - 30*time.Minute).Add(0), at("2026-11-20 16:00")},
		// A fire: round the clock, category time (1 h), dispatched by the system.
		{event.Event{Source: event.Hotline, Kind: "求助", Category: "emergency.fire"}, "应急事件 24 小时", true, at("2026-11-21 23:00"), at("2026-11-21 22:00")},
		// A consultation on a Saturday evening: 3 working days from Monday 08:30.
		{event.Event{Source: event.Hotline, Kind: "咨询", Category: "service.consult"}, "12345 咨询 3 个工作日", false, at("2026-11-25 17:30"), at("2026-11-21 19:00")},
	} {
		d := r.Decide(tc.ev)
		if d.Rule != tc.rule || d.AutoDispatch != tc.auto {
			t.Errorf("%+v: rule %q auto %v", tc.ev, d.Rule, d.AutoDispatch)
			continue
		}
		if tc.rule == "12345 投诉举报建议 15 个工作日" {
			// Friday 16:00 → 1.5 h left that day, then 134.5 h over the next 15 working days.
			got := r.Deadline(d, tc.from).In(shanghai)
			if want := at("2026-12-11 16:00"); !got.Equal(want) {
				t.Errorf("complaint deadline %v, want %v", got, want)
			}
			continue
		}
		if got := r.Deadline(d, tc.from); !got.Equal(tc.deadline) {
			t.Errorf("%s: deadline %v, want %v", tc.rule, got.In(shanghai), tc.deadline)
		}
	}
}

func TestCalendarHolidaysAndMakeUpDays(t *testing.T) {
	r, _ := Default(shanghai)
	c := r.Calendar()
	if c.Working(at("2026-10-01 10:00")) || !c.Working(at("2026-10-10 10:00")) || c.Working(at("2026-11-23 07:00")) {
		t.Fatal("National Day off, 10-10 (Saturday) a make-up day, before 08:30 not working")
	}
	// Sep 30 (Wed) 17:00 + 1 h: 30 min that day, then Oct 1-7 off except none, Oct 8 (Thu) 09:00.
	if got := c.Add(at("2026-09-30 17:00"), time.Hour).In(shanghai); !got.Equal(at("2026-10-08 09:00")) {
		t.Fatalf("across National Day: %v", got)
	}
}

func TestValidationReportsEveryProblem(t *testing.T) {
	bad := `calendar: {start: "25:00", end: "08:00", weekend: [funday], holidays: [2026-13-01]}
rules:
  - name: a
    match: {category: [飞碟], source: [fax], max_severity: 9}
    allowed: soon
`
	_, err := Parse([]byte(bad), shanghai)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"calendar.start", "weekend", "holidays", "match.category", "match.source", "max_severity", "allowed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
	if _, err := Parse([]byte("rules: []\nunknown: 1\n"), shanghai); err == nil {
		t.Error("unknown field accepted")
	}
}

func TestWatcherReloadsAndKeepsGoodRules(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routing.yaml")
	if err := os.WriteFile(path, defaultYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(path, shanghai)
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Event{Source: event.Grid, Category: "city.street.vendor"}
	if d := w.Rules().Decide(ev); d.Department != "城市管理局" {
		t.Fatalf("before: %+v", d)
	}
	changed := strings.Replace(string(defaultYAML), "  - name: 网格上报的城市管理问题\n", "  - name: 网格上报的城市管理问题\n    department: 街道城管中队\n", 1)
	future := time.Now().Add(2 * time.Second)
	_ = os.WriteFile(path, []byte(changed), 0o644)
	_ = os.Chtimes(path, future, future)
	if ok, err := w.Reload(); !ok || err != nil {
		t.Fatalf("reload: %v %v", ok, err)
	}
	if d := w.Rules().Decide(ev); d.Department != "街道城管中队" {
		t.Fatalf("after: %+v", d)
	}
	_ = os.WriteFile(path, []byte("rules: [{allowed: never}]"), 0o644)
	later := future.Add(2 * time.Second)
	_ = os.Chtimes(path, later, later)
	if _, err := w.Reload(); err == nil {
		t.Fatal("bad file accepted")
	}
	if d := w.Rules().Decide(ev); d.Department != "街道城管中队" {
		t.Fatal("a bad file replaced the good rules")
	}
}

func TestFusionSection(t *testing.T) {
	r, _ := Default(shanghai)
	if f, ok := r.FusionFor("fire"); !ok || f.RadiusM != 300 || f.Window != 6*time.Hour {
		t.Fatalf("fire fusion %+v %v", f, ok)
	}
	if _, ok := r.FusionFor("labour"); ok {
		t.Fatal("labour is not in the default file")
	}
	_, err := Parse([]byte(`calendar: {start: "08:30", end: "17:30"}
fusion:
  dragons: {radius_m: 100, window: 1h}
  fire: {radius_m: -5, window: soon}
`), shanghai)
	if err == nil || !strings.Contains(err.Error(), "dragons") || !strings.Contains(err.Error(), "fusion.fire") {
		t.Fatalf("bad fusion accepted: %v", err)
	}
}

func TestGridReportInOwnGridGoesToTheReporter(t *testing.T) {
	r, _ := Default(shanghai)
	ev := event.Event{Source: event.Grid, Category: "city.street.vendor", Reporter: event.Reporter{WorkerID: "W1", Grid: "321204004012004"}}
	ev.Place.Grid.Code = "321204004012004"
	if d := r.Decide(ev); d.WorkerID != "W1" || !d.AutoDispatch {
		t.Fatalf("own grid: %+v", d)
	}
	ev.Place.Grid.Code = "321204004012005"
	if d := r.Decide(ev); d.WorkerID != "" {
		t.Fatalf("another grid: %+v", d)
	}
}
