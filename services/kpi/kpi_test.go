package kpi

import (
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/gis"
	"github.com/citybrain-ioc/citybrain/services/casestate"
	"github.com/citybrain-ioc/citybrain/services/event"
)

func TestCompute(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	h := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Hour))) }
	town := func(code string) gis.Place { return gis.Place{Town: gis.Unit{Code: code, Name: "镇" + code}} }
	mk := func(state event.State, place gis.Place, cs casestate.Case, dept string) Case {
		inc := event.Incident{State: state, Place: place}
		if dept != "" {
			inc.Task = &event.TaskRef{Department: dept, Deadline: cs.Deadline}
		}
		return Case{Incident: inc, State: cs}
	}
	cases := []Case{
		// closed on time, signed on time, rated 满意
		mk(event.Rated, town("A"), casestate.Case{ReceivedAt: h(0), DispatchedAt: h(1), AcceptedAt: h(1.5), HandledAt: h(5), Deadline: h(10), ClosedAt: h(6), Rating: 4}, "城管"),
		// closed late, signed late, rated 不满意 and reopened once, closed again
		mk(event.Closed, town("A"), casestate.Case{ReceivedAt: h(0), DispatchedAt: h(2), AcceptedAt: h(6), HandledAt: h(12), Deadline: h(10), ClosedAt: h(13), Rating: 2, ReopenCount: 1}, "城管"),
		// open and overdue
		mk(event.InProgress, town("B"), casestate.Case{ReceivedAt: h(0), DispatchedAt: h(1), AcceptedAt: h(1.1), Deadline: h(3)}, "水务"),
		// received, not dispatched: counts only in totals
		mk(event.Received, gis.Place{}, casestate.Case{ReceivedAt: h(0)}, ""),
	}
	r := Compute(cases, ByTown, h(20))
	o := r.Overall
	if o.Total != 4 || o.Open != 2 || o.Closed != 2 || o.Overdue != 1 {
		t.Fatalf("counts %+v", o)
	}
	check := func(name string, got *float64, want float64) {
		t.Helper()
		if got == nil || *got < want-1e-9 || *got > want+1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("按时签收率", o.OnTimeSign, 2.0/3)
	check("按时办结率", o.OnTimeClose, 1.0/2)
	check("满意率", o.Satisfaction, 1.0/2)
	check("发回重办率", o.ReopenRate, 1.0/2)
	check("mean dispatch", o.MeanDispatchS, (1+2+1)*3600.0/3)
	check("mean close", o.MeanCloseS, (6+13)*3600.0/2)
	if len(r.Groups) != 2 || r.Groups[0].Key != "A" || r.Groups[0].Total != 2 || r.Groups[1].Overdue != 1 {
		t.Fatalf("groups %+v", r.Groups)
	}
	if empty := Compute(nil, "", h(1)); empty.Overall.Satisfaction != nil || empty.Overall.Total != 0 {
		t.Fatalf("no data must be nil rates, got %+v", empty.Overall)
	}
	if d := Compute(cases, ByDepartment, h(20)); len(d.Groups) != 2 || d.Groups[0].Key != "城管" {
		t.Fatalf("by department %+v", d.Groups)
	}
}
