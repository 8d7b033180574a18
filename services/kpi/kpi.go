// Package kpi computes the performance indicators cities judge their
// handling by — 按时签收率, 按时办结率, 满意率, 发回重办率, overdue counts,
// mean time to dispatch and to close — overall and per town, department or
// worker, from the incidents and their case state. It is pure: the caller
// passes the cases and the time.
package kpi

import (
	"sort"
	"time"

	"github.com/citybrain-ioc/citybrain/services/casestate"
	"github.com/citybrain-ioc/citybrain/services/event"
	"github.com/citybrain-ioc/citybrain/services/redisstore"
	"github.com/citybrain-ioc/citybrain/services/wire"
)

// SignWithin is the time allowed from dispatch to 签收 (acceptance) for
// 按时签收率.
const SignWithin = 2 * time.Hour

// Case is one incident with its case state.
type Case struct {
	Incident event.Incident
	State    casestate.Case
}

// KPI is the set of indicators of a group of cases. Rates are 0 … 1, or
// nil when there is nothing to count yet (so a wall never shows 0 % for
// "no data"). Durations are in seconds.
type KPI struct {
	Key   string `json:"key,omitempty"`
	Name  string `json:"name,omitempty"`
	Total int    `json:"total"`
	Open  int    `json:"open"`
	// Closed counts cases closed (结案) or beyond (visited, rated).
	Closed        int      `json:"closed"`
	Overdue       int      `json:"overdue"`         // open, task past its deadline, not yet handled
	OnTimeSign    *float64 `json:"on_time_sign"`    // 按时签收率: signed within SignWithin of dispatch
	OnTimeClose   *float64 `json:"on_time_close"`   // 按时办结率: handled before the deadline, of those handled
	Satisfaction  *float64 `json:"satisfaction"`    // 满意率: rated 基本满意 or better, of those rated
	ReopenRate    *float64 `json:"reopen_rate"`     // 发回重办率: reopened at least once, of those closed
	MeanDispatchS *float64 `json:"mean_dispatch_s"` // received → first dispatch
	MeanCloseS    *float64 `json:"mean_close_s"`    // received → closed
}

type acc struct {
	k                      KPI
	signed, signedOnTime   int
	handled, handledOnTime int
	rated, satisfied       int
	reopened               int
	dispatched             int
	dispatchSum, closeSum  float64
	closedTimed            int
}

func (a *acc) add(c Case, now time.Time) {
	inc, cs := c.Incident, c.State
	a.k.Total++
	closed := inc.State == event.Closed || inc.State == event.Visited || inc.State == event.Rated
	switch {
	case closed:
		a.k.Closed++
	case inc.State.Open():
		a.k.Open++
	}
	if inc.State.Open() && inc.Task != nil && !inc.Task.Deadline.IsZero() && now.After(inc.Task.Deadline) &&
		inc.State != event.Handled && inc.State != event.Verified {
		a.k.Overdue++
	}
	if !cs.DispatchedAt.IsZero() && !cs.ReceivedAt.IsZero() {
		a.dispatched++
		a.dispatchSum += cs.DispatchedAt.Sub(cs.ReceivedAt).Seconds()
	}
	if !cs.AcceptedAt.IsZero() && !cs.DispatchedAt.IsZero() {
		a.signed++
		if cs.AcceptedAt.Sub(cs.DispatchedAt) <= SignWithin {
			a.signedOnTime++
		}
	}
	if !cs.HandledAt.IsZero() {
		a.handled++
		if cs.Deadline.IsZero() || !cs.HandledAt.After(cs.Deadline) {
			a.handledOnTime++
		}
	}
	if cs.Rating > 0 {
		a.rated++
		if cs.Rating >= casestate.RatingFair {
			a.satisfied++
		}
	}
	if closed && cs.ReopenCount > 0 {
		a.reopened++
	}
	if closed && !cs.ClosedAt.IsZero() && !cs.ReceivedAt.IsZero() {
		a.closedTimed++
		a.closeSum += cs.ClosedAt.Sub(cs.ReceivedAt).Seconds()
	}
}

func ratio(n, d int) *float64 {
	if d == 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}

func mean(sum float64, n int) *float64 {
	if n == 0 {
		return nil
	}
	m := sum / float64(n)
	return &m
}

func (a *acc) result() KPI {
	k := a.k
	k.OnTimeSign = ratio(a.signedOnTime, a.signed)
	k.OnTimeClose = ratio(a.handledOnTime, a.handled)
	k.Satisfaction = ratio(a.satisfied, a.rated)
	k.ReopenRate = ratio(a.reopened, a.k.Closed)
	k.MeanDispatchS = mean(a.dispatchSum, a.dispatched)
	k.MeanCloseS = mean(a.closeSum, a.closedTimed)
	return k
}

// Dimension groups cases.
type Dimension string

// Dimensions.
const (
	ByTown       Dimension = "town"
	ByDepartment Dimension = "department"
	ByWorker     Dimension = "worker"
)

// Report is the overall KPI and, for a dimension, one KPI per group,
// largest first.
type Report struct {
	Overall KPI    `json:"overall"`
	By      string `json:"by,omitempty"`
	Groups  []KPI  `json:"groups,omitempty"`
}

// Compute returns the KPIs of cases at time now, grouped by dim ("" for
// overall only). Cases without the dimension (no town, no task) count only
// in the overall figures.
func Compute(cases []Case, dim Dimension, now time.Time) Report {
	var all acc
	groups := map[string]*acc{}
	for _, c := range cases {
		all.add(c, now)
		key, name := groupOf(c, dim)
		if key == "" {
			continue
		}
		g, ok := groups[key]
		if !ok {
			g = &acc{k: KPI{Key: key, Name: name}}
			groups[key] = g
		}
		g.add(c, now)
	}
	r := Report{Overall: all.result(), By: string(dim)}
	for _, g := range groups {
		r.Groups = append(r.Groups, g.result())
	}
	sort.Slice(r.Groups, func(i, j int) bool {
		if r.Groups[i].Total != r.Groups[j].Total {
			return r.Groups[i].Total > r.Groups[j].Total
		}
		return r.Groups[i].Key < r.Groups[j].Key
	})
	return r
}

func groupOf(c Case, dim Dimension) (string, string) {
	switch dim {
	case ByTown:
		return c.Incident.Place.Town.Code, c.Incident.Place.Town.Name
	case ByDepartment:
		if t := c.Incident.Task; t != nil {
			return t.Department, t.Department
		}
	case ByWorker:
		if t := c.Incident.Task; t != nil && t.WorkerID != "" {
			return t.WorkerID, t.WorkerID
		}
	}
	return "", ""
}

// FromRow makes a Case of an incident and its case state as stored (JSON,
// casestate.Case); an incident without one gets a case received when it
// was first seen.
func FromRow(inc event.Incident, caseJSON []byte) Case {
	c := Case{Incident: inc}
	if len(caseJSON) > 0 {
		_ = wire.Unmarshal(caseJSON, &c.State)
	}
	if c.State.ReceivedAt.IsZero() {
		c.State = casestate.Case{ReceivedAt: inc.FirstSeen}
	}
	return c
}

// Window bounds the cases KPIs are computed over: the most recently
// updated ones (the API's /stats/kpi and the wall's stats use the same).
const Window = 20000

// NewCaseCache returns a cache of the Window newest cases of store as
// KPI cases, rereading only those that changed (the API's and the
// gateway's scans).
func NewCaseCache(store *redisstore.Store) *redisstore.CaseCache[Case] {
	return redisstore.NewCaseCache(store, Window, false, func(r redisstore.CaseRow) Case {
		return FromRow(r.Incident, r.Case)
	})
}
