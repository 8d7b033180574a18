package casestate

import (
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/event"
)

const (
	dept      = "城市管理局"
	otherDept = "住房和城乡建设局"
)

var (
	t0 = time.Date(2024, 6, 3, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))

	sys      = Actor{ID: "system", Role: RoleSystem}
	disp     = Actor{ID: "d1", Role: RoleDispatcher}
	disp2    = Actor{ID: "d2", Role: RoleDispatcher}
	admin    = Actor{ID: "a1", Role: RoleAdmin}
	worker   = Actor{ID: "w1", Role: RoleWorker, Department: dept}
	worker2  = Actor{ID: "w2", Role: RoleWorker, Department: dept}
	outsider = Actor{ID: "w9", Role: RoleWorker, Department: otherDept}
	viewer   = Actor{ID: "v1", Role: RoleViewer}
	citizen  = Actor{ID: "c1", Role: "citizen"} // not a role of the platform
)

// runner drives a case through commands, one minute apart, and keeps the
// audit trail.
type runner struct {
	t     *testing.T
	c     Case
	now   time.Time
	trail []Transition
}

func newRunner(t *testing.T, id string) *runner {
	return &runner{t: t, c: Case{ID: id}, now: t0}
}

// cmd builds the next command: one minute later, based on the current
// version.
func (r *runner) cmd(a Action, actor Actor, opts ...func(*Command)) Command {
	r.now = r.now.Add(time.Minute)
	cmd := Command{ID: string(a) + "@" + r.now.Format("0102T1504"), Action: a, Actor: actor, BaseVersion: r.c.Version, At: r.now}
	for _, o := range opts {
		o(&cmd)
	}
	return cmd
}

// do applies a command that must succeed.
func (r *runner) do(a Action, actor Actor, opts ...func(*Command)) Transition {
	r.t.Helper()
	next, tr, err := Decide(r.c, r.cmd(a, actor, opts...))
	if err != nil {
		r.t.Fatalf("%s by %s: %v", a, actor.ID, err)
	}
	r.c = next
	r.trail = append(r.trail, tr)
	return tr
}

// wait moves the runner's clock.
func (r *runner) wait(d time.Duration) { r.now = r.now.Add(d) }

func reason(s string) func(*Command) { return func(c *Command) { c.Reason = s } }
func note(s string) func(*Command)   { return func(c *Command) { c.Note = s } }
func rating(x Rating) func(*Command) { return func(c *Command) { c.Rating = x } }
func deadline(d time.Time) func(*Command) {
	return func(c *Command) { c.Deadline = d }
}

// assign sets a dispatch's department, worker, deadline (allowed from the
// command time) and a 48-hour 退单 window.
func assign(department, workerID string, allowed time.Duration) func(*Command) {
	return func(c *Command) {
		c.Department, c.WorkerID = department, workerID
		c.Deadline = c.At.Add(allowed)
		c.ReturnBy = c.At.Add(48 * time.Hour)
	}
}

// reach returns a runner whose case is in state s, reached through the
// machine itself (so every fixture is a reachable, consistent case). The
// task, when there is one, is assigned to worker w1 of dept with a 24-hour
// deadline.
func reach(t *testing.T, s event.State) *runner {
	t.Helper()
	r := newRunner(t, "INC-1")
	if s == "" {
		return r
	}
	r.do(Receive, sys)
	switch s {
	case event.Received:
		return r
	case event.Rejected:
		r.do(Reject, disp, reason("not a city matter"))
		return r
	case event.Merged:
		r.do(Merge, disp, reason("same pothole"), func(c *Command) { c.MergeInto = "INC-0" })
		return r
	}
	r.do(File, disp)
	if s == event.Filed {
		return r
	}
	r.do(Dispatch, disp, assign(dept, worker.ID, 24*time.Hour))
	if s == event.Dispatched {
		return r
	}
	r.do(Accept, worker)
	if s == event.Accepted {
		return r
	}
	r.do(Start, worker)
	switch s {
	case event.InProgress:
		return r
	case event.Suspended:
		r.do(Suspend, disp, reason("waiting for the road works"))
		return r
	case event.ExtensionRequested:
		r.do(RequestExtension, worker, reason("parts on order"), deadline(r.c.Deadline.Add(48*time.Hour)))
		return r
	case event.Returned:
		r.do(Return, worker, reason("not ours: private land"))
		return r
	}
	r.do(Handle, worker, note("cleared"))
	if s == event.Handled {
		return r
	}
	r.do(Verify, disp)
	if s == event.Verified {
		return r
	}
	r.do(Close, disp)
	switch s {
	case event.Closed:
		return r
	case event.Visited:
		r.do(Visit, disp)
		return r
	case event.Rated:
		r.do(Rate, sys, rating(RatingSatisfied))
		return r
	case event.Reopened:
		r.do(Visit, disp, rating(RatingDissatisfied))
		return r
	}
	t.Fatalf("no path to state %q", s)
	return nil
}

// validCmd is a command for action a that carries every field the action
// needs, valid against the fixtures of reach.
func validCmd(c Case, a Action, actor Actor, at time.Time) Command {
	cmd := Command{
		ID: "cmd-" + string(a), Action: a, Actor: actor, BaseVersion: c.Version, At: at,
		Reason: "because", Note: "done", Photos: []string{"p1.jpg"},
	}
	switch a {
	case Dispatch, AutoDispatch, Reassign:
		cmd.Department, cmd.Deadline, cmd.ReturnBy = otherDept, at.Add(24*time.Hour), at.Add(48*time.Hour)
	case RequestExtension:
		cmd.Deadline = c.Deadline.Add(24 * time.Hour)
	case Rate:
		cmd.Rating = RatingSatisfied
	case Merge:
		cmd.MergeInto = "INC-9"
	case Split:
		cmd.EventID = "EV-2"
	}
	return cmd
}
