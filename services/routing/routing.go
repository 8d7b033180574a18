// Package routing decides who handles a case and by when, from a readable
// YAML file (default.yaml, embedded; ROUTING_FILE overrides it): routing
// rules (category, family, source, 12345 诉求类型, town, severity →
// department, time allowed, working time or round the clock, whether the
// system dispatches by itself, escalation chain), and the working-time
// calendar (hours, weekends, holidays, 调休 make-up days). Rules are
// validated at load with every problem reported; a Watcher reloads the file
// when it changes without a restart, keeping the last good rules on error.
package routing

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/taxonomy"
)

//go:embed default.yaml
var defaultYAML []byte

// File is the YAML document.
type File struct {
	Calendar struct {
		Start    string   `yaml:"start"`
		End      string   `yaml:"end"`
		Weekend  []string `yaml:"weekend"`
		Holidays []string `yaml:"holidays"`
		Workdays []string `yaml:"workdays"`
	} `yaml:"calendar"`
	Rules []RuleSpec `yaml:"rules"`
	// Fusion overrides the fusion rule of category families: reports of a
	// family within radius_m metres of an open incident that had a report in
	// the last window are the same problem. radius_m 0 never fuses.
	Fusion map[string]FusionSpec `yaml:"fusion"`
}

// FusionSpec is one family's fusion rule as written.
type FusionSpec struct {
	RadiusM float64 `yaml:"radius_m"`
	Window  string  `yaml:"window"`
}

// Fusion is a family's fusion rule.
type Fusion struct {
	RadiusM float64
	Window  time.Duration
}

// RuleSpec is one rule as written. Empty match fields match anything.
type RuleSpec struct {
	Name  string `yaml:"name"`
	Match struct {
		Category   []string `yaml:"category"`
		Family     []string `yaml:"family"`
		Source     []string `yaml:"source"`
		AppealType []string `yaml:"appeal_type"`
		Town       []string `yaml:"town"`
		MaxSev     int      `yaml:"max_severity"` // matches severity ≤ this (1 = I)
	} `yaml:"match"`
	Department   string `yaml:"department"`
	Allowed      string `yaml:"allowed"` // Go duration ("4h") or "N working days"
	WorkingTime  bool   `yaml:"working_time"`
	AutoDispatch *bool  `yaml:"auto_dispatch"`
	// AssignReporter gives a grid worker's report in their own grid cell
	// to that worker (自行处置).
	AssignReporter bool     `yaml:"assign_reporter"`
	Escalation     []string `yaml:"escalation"`
}

// Decision is what the rules say for one report.
type Decision struct {
	Rule         string
	Department   string        // "" = the category's department
	Allowed      time.Duration // 0 = the category's time allowed
	WorkingTime  bool
	AutoDispatch bool
	// WorkerID is the worker to assign (a grid report in the reporter's
	// own grid under an assign_reporter rule), else "".
	WorkerID   string
	Escalation []string
}

// Rules are loaded, validated rules with their calendar. Safe for
// concurrent use (immutable).
type Rules struct {
	cal    *Calendar
	rules  []RuleSpec
	allow  []time.Duration
	fusion map[string]Fusion
}

// Parse validates a routing document.
func Parse(b []byte, loc *time.Location) (*Rules, error) {
	var f File
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	var errs []error
	cal := &Calendar{loc: loc, weekend: map[time.Weekday]bool{}, holidays: map[string]bool{}, workdays: map[string]bool{}}
	var err error
	if cal.startMin, err = parseClock(f.Calendar.Start); err != nil {
		errs = append(errs, fmt.Errorf("calendar.start: %w", err))
	}
	if cal.endMin, err = parseClock(f.Calendar.End); err != nil {
		errs = append(errs, fmt.Errorf("calendar.end: %w", err))
	}
	if cal.endMin <= cal.startMin {
		errs = append(errs, errors.New("calendar: end must be after start"))
	}
	days := map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}
	for _, w := range f.Calendar.Weekend {
		d, ok := days[strings.ToLower(w)[:min(3, len(w))]]
		if !ok {
			errs = append(errs, fmt.Errorf("calendar.weekend: %q is not a weekday", w))
		}
		cal.weekend[d] = true
	}
	for field, list := range map[string][]string{"holidays": f.Calendar.Holidays, "workdays": f.Calendar.Workdays} {
		for _, d := range list {
			if _, err := time.Parse("2006-01-02", d); err != nil {
				errs = append(errs, fmt.Errorf("calendar.%s: %q is not a date (2006-01-02)", field, d))
			}
			if field == "holidays" {
				cal.holidays[d] = true
			} else {
				cal.workdays[d] = true
			}
		}
	}
	r := &Rules{cal: cal, rules: f.Rules, fusion: map[string]Fusion{}}
	families := map[string]bool{}
	for _, c := range taxonomy.All() {
		families[c.Family] = true
	}
	for fam, fs := range f.Fusion {
		if !families[fam] {
			errs = append(errs, fmt.Errorf("fusion.%s: no such category family", fam))
		}
		w, err := time.ParseDuration(fs.Window)
		if fs.RadiusM < 0 || fs.RadiusM > 10000 || (fs.RadiusM > 0 && (err != nil || w <= 0)) {
			errs = append(errs, fmt.Errorf("fusion.%s: want radius_m 0 … 10000 and a window such as 6h", fam))
		}
		r.fusion[fam] = Fusion{RadiusM: fs.RadiusM, Window: w}
	}
	for i, rs := range f.Rules {
		at := fmt.Sprintf("rules[%d] (%s)", i, rs.Name)
		for _, c := range rs.Match.Category {
			if _, err := taxonomy.Lookup(c); err != nil {
				errs = append(errs, fmt.Errorf("%s: match.category: %w", at, err))
			}
		}
		for _, s := range rs.Match.Source {
			if _, err := event.ParseSource(s); err != nil {
				errs = append(errs, fmt.Errorf("%s: match.source: %w", at, err))
			}
		}
		if rs.Match.MaxSev < 0 || rs.Match.MaxSev > 4 {
			errs = append(errs, fmt.Errorf("%s: match.max_severity: want 1 … 4", at))
		}
		d, err := parseAllowed(rs.Allowed, cal)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: allowed: %w", at, err))
		}
		r.allow = append(r.allow, d)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("routing: %w", errors.Join(errs...))
	}
	return r, nil
}

func parseAllowed(s string, cal *Calendar) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d working days", &n); err == nil && n > 0 {
		return time.Duration(n) * cal.DayLength(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a duration (4h, 90m) or \"N working days\"", s)
	}
	return d, nil
}

// Default returns the embedded default rules.
func Default(loc *time.Location) (*Rules, error) { return Parse(defaultYAML, loc) }

// Load reads rules from path ("" = the embedded default).
func Load(path string, loc *time.Location) (*Rules, error) {
	if path == "" {
		return Default(loc)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	return Parse(b, loc)
}

// Decide returns the first matching rule's decision for a report; the
// category's defaults fill what the rule leaves out.
func (r *Rules) Decide(ev event.Event) Decision {
	cat, _ := taxonomy.Lookup(ev.Category)
	d := Decision{Department: cat.Department, Allowed: cat.Allowed, AutoDispatch: ev.Source != event.Hotline}
	for i, rs := range r.rules {
		if !matches(rs, ev, cat) {
			continue
		}
		d.Rule = rs.Name
		if rs.Department != "" {
			d.Department = rs.Department
		}
		if r.allow[i] > 0 {
			d.Allowed = r.allow[i]
		}
		d.WorkingTime = rs.WorkingTime
		if rs.AutoDispatch != nil {
			d.AutoDispatch = *rs.AutoDispatch
		}
		d.Escalation = rs.Escalation
		if rs.AssignReporter && ev.Reporter.WorkerID != "" && ev.Reporter.Grid != "" && ev.Reporter.Grid == ev.Place.Grid.Code {
			d.WorkerID = ev.Reporter.WorkerID
		}
		return d
	}
	return d
}

// Deadline is when a task dispatched at 'at' under d is due.
func (r *Rules) Deadline(d Decision, at time.Time) time.Time {
	if d.WorkingTime {
		return r.cal.Add(at, d.Allowed).UTC()
	}
	return at.Add(d.Allowed).UTC()
}

// FusionFor returns the file's fusion rule of a family, if it has one.
func (r *Rules) FusionFor(family string) (Fusion, bool) {
	f, ok := r.fusion[family]
	return f, ok
}

// Calendar returns the working-time calendar.
func (r *Rules) Calendar() *Calendar { return r.cal }

func matches(rs RuleSpec, ev event.Event, cat taxonomy.Category) bool {
	in := func(list []string, v string) bool {
		if len(list) == 0 {
			return true
		}
		for _, x := range list {
			if x == v {
				return true
			}
		}
		return false
	}
	if len(rs.Match.Category) > 0 {
		ok := false
		for _, c := range rs.Match.Category {
			if t, err := taxonomy.Lookup(c); err == nil && t.Code == cat.Code {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return in(rs.Match.Family, cat.Family) && in(rs.Match.Source, string(ev.Source)) && in(rs.Match.AppealType, ev.Kind) &&
		in(rs.Match.Town, ev.Place.Town.Code) && (rs.Match.MaxSev == 0 || (ev.Severity > 0 && ev.Severity <= rs.Match.MaxSev))
}

// Watcher holds the current rules and reloads them when the file changes.
type Watcher struct {
	path    string
	loc     *time.Location
	cur     atomic.Pointer[Rules]
	modTime time.Time
}

// NewWatcher loads path ("" = the embedded default, never reloaded).
func NewWatcher(path string, loc *time.Location) (*Watcher, error) {
	r, err := Load(path, loc)
	if err != nil {
		return nil, err
	}
	w := &Watcher{path: path, loc: loc}
	w.cur.Store(r)
	if path != "" {
		if st, err := os.Stat(path); err == nil {
			w.modTime = st.ModTime()
		}
	}
	return w, nil
}

// Rules returns the current rules.
func (w *Watcher) Rules() *Rules { return w.cur.Load() }

// Reload re-reads the file if it changed. A file that does not validate
// leaves the current rules in place and returns the reason.
func (w *Watcher) Reload() (bool, error) {
	if w.path == "" {
		return false, nil
	}
	st, err := os.Stat(w.path)
	if err != nil {
		return false, fmt.Errorf("routing: %w", err)
	}
	if !st.ModTime().After(w.modTime) {
		return false, nil
	}
	r, err := Load(w.path, w.loc)
	w.modTime = st.ModTime()
	if err != nil {
		return false, err
	}
	w.cur.Store(r)
	return true, nil
}
