package casestate

import (
	"errors"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/auth"
	"github.com/citybrain-ioc/citybrain/services/event"
)

// expect restates the table of doc.go, written out by hand so that the
// matrix compares the implementation against the documentation and not
// against itself. to is the state reached from the fixtures of reach with
// the commands of validCmd ("=" means unchanged).
var expect = map[Action]struct {
	from  []event.State
	roles []string
	to    event.State
}{
	Receive:          {[]event.State{""}, []string{"system"}, event.Received},
	File:             {[]event.State{"received"}, []string{"dispatcher", "admin"}, event.Filed},
	Reject:           {[]event.State{"received", "filed", "returned"}, []string{"dispatcher", "admin"}, event.Rejected},
	Dispatch:         {[]event.State{"filed", "returned", "reopened"}, []string{"dispatcher", "admin"}, event.Dispatched},
	AutoDispatch:     {[]event.State{"received", "filed", "reopened"}, []string{"system"}, event.Dispatched},
	Reassign:         {[]event.State{"dispatched", "accepted", "in_progress", "suspended", "extension_requested"}, []string{"dispatcher", "admin"}, event.Dispatched},
	Accept:           {[]event.State{"dispatched"}, []string{"worker"}, event.Accepted},
	Start:            {[]event.State{"accepted"}, []string{"worker"}, event.InProgress},
	Suspend:          {[]event.State{"accepted", "in_progress"}, []string{"dispatcher", "admin"}, event.Suspended},
	Resume:           {[]event.State{"suspended"}, []string{"dispatcher", "admin", "worker"}, event.InProgress},
	RequestExtension: {[]event.State{"accepted", "in_progress"}, []string{"worker"}, event.ExtensionRequested},
	GrantExtension:   {[]event.State{"extension_requested"}, []string{"dispatcher", "admin"}, event.InProgress},
	DenyExtension:    {[]event.State{"extension_requested"}, []string{"dispatcher", "admin"}, event.InProgress},
	Return:           {[]event.State{"dispatched", "accepted", "in_progress"}, []string{"worker"}, event.Returned},
	Handle:           {[]event.State{"in_progress"}, []string{"worker"}, event.Handled},
	Verify:           {[]event.State{"handled"}, []string{"dispatcher", "admin"}, event.Verified},
	SendBack:         {[]event.State{"handled"}, []string{"dispatcher", "admin"}, event.Dispatched},
	Close:            {[]event.State{"verified"}, []string{"dispatcher", "admin"}, event.Closed},
	Visit:            {[]event.State{"closed"}, []string{"dispatcher", "admin", "system"}, event.Visited},
	Rate:             {[]event.State{"closed", "visited"}, []string{"dispatcher", "admin", "system"}, event.Rated},
	Merge:            {openList, []string{"dispatcher", "admin"}, event.Merged},
	Cancel:           {openList, []string{"dispatcher", "admin", "system"}, event.Closed},
	Escalate:         {openList, []string{"dispatcher", "admin", "system"}, "="},
	Split:            {openList, []string{"dispatcher", "admin"}, "="},
}

var openList = []event.State{"received", "filed", "dispatched", "accepted", "in_progress", "suspended",
	"extension_requested", "returned", "handled", "verified", "reopened"}

// matrixStates is every state plus the "" of a case not yet received.
var matrixStates = append([]event.State{""}, States()...)

// matrixActors: one actor per role; the worker holds the fixtures' task.
var matrixActors = []Actor{sys, disp, admin, worker, viewer, citizen}

func TestExpectCoversEveryAction(t *testing.T) {
	for _, a := range Actions() {
		if _, ok := expect[a]; !ok {
			t.Errorf("action %s has no expectation", a)
		}
	}
	if len(expect) != len(Actions()) {
		t.Errorf("%d expectations for %d actions", len(expect), len(Actions()))
	}
	for _, s := range openList {
		if !s.Open() {
			t.Errorf("%s is not open according to event.State.Open", s)
		}
	}
	// admin may do what a dispatcher may.
	for a, e := range expect {
		if slices.Contains(e.roles, "dispatcher") != slices.Contains(e.roles, "admin") {
			t.Errorf("%s: dispatcher and admin differ", a)
		}
	}
}

// TestMatrix checks every state × every action × every role against the
// table: the allowed triples succeed and reach the documented state,
// everything else is refused with ErrForbidden (role) or ErrNotAllowed
// (state), the case unchanged and the refusal recorded.
func TestMatrix(t *testing.T) {
	var applied, refused int
	for _, s := range matrixStates {
		base := reach(t, s)
		if base.c.State != s {
			t.Fatalf("fixture for %q is in state %q", s, base.c.State)
		}
		at := base.now.Add(time.Minute)
		for _, actor := range matrixActors {
			var want []Action
			for _, a := range Actions() {
				e := expect[a]
				cmd := validCmd(base.c, a, actor, at)
				next, tr, err := Decide(base.c, cmd)
				switch {
				case !slices.Contains(e.roles, actor.Role):
					assertRefused(t, base.c, cmd, next, tr, err, ErrForbidden)
					refused++
				case !slices.Contains(e.from, s):
					assertRefused(t, base.c, cmd, next, tr, err, ErrNotAllowed)
					refused++
				default:
					want = append(want, a)
					applied++
					if err != nil {
						t.Errorf("%s by %s in %q: %v", a, actor.Role, s, err)
						continue
					}
					to := e.to
					if to == "=" {
						to = s
					}
					if next.State != to || tr.To != to || tr.From != s {
						t.Errorf("%s by %s in %q: state %q, transition %q→%q, want %q", a, actor.Role, s, next.State, tr.From, tr.To, to)
					}
					if next.Version != base.c.Version+1 || tr.Version != next.Version || tr.Outcome != Applied || tr.Refusal != "" {
						t.Errorf("%s by %s in %q: version %d→%d, transition %+v", a, actor.Role, s, base.c.Version, next.Version, tr)
					}
					if tr.Actor != actor || !tr.At.Equal(at) || tr.CommandID != cmd.ID || tr.CaseID != "INC-1" {
						t.Errorf("%s by %s in %q: audit record %+v", a, actor.Role, s, tr)
					}
				}
			}
			if got := Allowed(base.c, actor, at); !slices.Equal(got, want) {
				t.Errorf("Allowed(%q, %s) = %v, want %v", s, actor.Role, got, want)
			}
		}
	}
	t.Logf("%d applied, %d refused", applied, refused)
}

func assertRefused(t *testing.T, c Case, cmd Command, next Case, tr Transition, err error, kind error) {
	t.Helper()
	where := string(cmd.Action) + " by " + cmd.Actor.Role + " in " + stateName(c.State)
	if !errors.Is(err, kind) {
		t.Errorf("%s: err = %v, want %v", where, err, kind)
		return
	}
	if !reflect.DeepEqual(next, c) {
		t.Errorf("%s: refused command changed the case", where)
	}
	if tr.Outcome != Refused || tr.Refusal != err.Error() || tr.From != c.State || tr.To != c.State || tr.Version != c.Version || tr.Escalated {
		t.Errorf("%s: refusal record %+v", where, tr)
	}
	msg := err.Error()
	if !strings.Contains(msg, string(cmd.Action)) || !strings.Contains(msg, stateName(c.State)) {
		t.Errorf("%s: message %q does not name the action and the state", where, msg)
	}
}

// TestNotTheAssignee: every worker action, in every state it applies in,
// is refused to a worker who does not hold the task.
func TestNotTheAssignee(t *testing.T) {
	for _, a := range Actions() {
		e := expect[a]
		if !slices.Contains(e.roles, "worker") {
			continue
		}
		for _, s := range e.from {
			base := reach(t, s)
			at := base.now.Add(time.Minute)
			for _, other := range []Actor{worker2, outsider} {
				cmd := validCmd(base.c, a, other, at)
				next, tr, err := Decide(base.c, cmd)
				assertRefused(t, base.c, cmd, next, tr, err, ErrForbidden)
				if err != nil && !strings.Contains(err.Error(), "assigned to worker w1") {
					t.Errorf("%s by %s: %v does not say whose task it is", a, other.ID, err)
				}
				if slices.Contains(Allowed(base.c, other, at), a) {
					t.Errorf("Allowed lists %s for %s in %s", a, other.ID, s)
				}
			}
		}
	}
}

// TestDepartmentTask: a task assigned to a department without a named
// worker may be signed for by any worker of it, who then holds it alone.
func TestDepartmentTask(t *testing.T) {
	r := reach(t, event.Filed)
	r.do(Dispatch, disp, assign(dept, "", 24*time.Hour))

	_, _, err := Decide(r.c, r.cmd(Accept, outsider))
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "department "+dept) {
		t.Fatalf("outsider accept: %v", err)
	}
	if got := Allowed(r.c, worker, r.now); !slices.Equal(got, []Action{Accept, Return}) {
		t.Errorf("department worker may %v, want [accept return]", got)
	}
	r.do(Accept, worker2)
	if r.c.WorkerID != worker2.ID {
		t.Fatalf("worker after accept = %q, want w2", r.c.WorkerID)
	}
	if _, _, err := Decide(r.c, r.cmd(Start, worker)); !errors.Is(err, ErrForbidden) {
		t.Fatalf("w1 start on w2's task: %v", err)
	}
	r.do(Start, worker2)
}

func TestFieldErrors(t *testing.T) {
	tests := []struct {
		state event.State
		field string
		cmd   func(c Case, at time.Time) Command
	}{
		{"", "id", func(c Case, at time.Time) Command {
			return Command{Action: Receive, Actor: sys, At: at}
		}},
		{event.Received, "action", func(c Case, at time.Time) Command {
			return Command{Action: "approve", Actor: disp, BaseVersion: c.Version, At: at}
		}},
		{event.Received, "actor.id", func(c Case, at time.Time) Command {
			return Command{Action: File, Actor: Actor{Role: RoleDispatcher}, BaseVersion: c.Version, At: at}
		}},
		{event.Received, "at", func(c Case, at time.Time) Command {
			return Command{Action: File, Actor: disp, BaseVersion: c.Version}
		}},
		{event.Received, "reason", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Reject, disp, at)
			cmd.Reason = "  "
			return cmd
		}},
		{event.Filed, "department", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Dispatch, disp, at)
			cmd.Department = ""
			return cmd
		}},
		{event.Filed, "deadline", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Dispatch, disp, at)
			cmd.Deadline = at
			return cmd
		}},
		{event.Filed, "deadline", func(c Case, at time.Time) Command {
			cmd := validCmd(c, AutoDispatch, sys, at)
			cmd.Deadline = time.Time{}
			return cmd
		}},
		{event.Filed, "return_by", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Dispatch, disp, at)
			cmd.ReturnBy = at.Add(-time.Hour)
			return cmd
		}},
		{event.InProgress, "department", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Reassign, disp, at)
			cmd.Department, cmd.WorkerID = dept, worker.ID // the same assignment
			return cmd
		}},
		{event.InProgress, "reason", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Reassign, disp, at)
			cmd.Reason = ""
			return cmd
		}},
		{event.InProgress, "deadline", func(c Case, at time.Time) Command {
			cmd := validCmd(c, RequestExtension, worker, at)
			cmd.Deadline = c.Deadline
			return cmd
		}},
		{event.InProgress, "reason", func(c Case, at time.Time) Command {
			cmd := validCmd(c, RequestExtension, worker, at)
			cmd.Reason = ""
			return cmd
		}},
		{event.ExtensionRequested, "deadline", func(c Case, at time.Time) Command {
			cmd := validCmd(c, GrantExtension, disp, at)
			cmd.Deadline = c.Deadline.Add(-time.Hour)
			return cmd
		}},
		{event.ExtensionRequested, "reason", func(c Case, at time.Time) Command {
			cmd := validCmd(c, DenyExtension, disp, at)
			cmd.Reason = ""
			return cmd
		}},
		{event.Suspended, "deadline", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Resume, worker, at)
			cmd.Deadline = at.Add(-time.Minute)
			return cmd
		}},
		{event.InProgress, "note", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Handle, worker, at)
			cmd.Note = ""
			return cmd
		}},
		{event.InProgress, "photos[1]", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Handle, worker, at)
			cmd.Photos = []string{"a.jpg", ""}
			return cmd
		}},
		{event.InProgress, "reason", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Return, worker, at)
			cmd.Reason = ""
			return cmd
		}},
		{event.Handled, "reason", func(c Case, at time.Time) Command {
			cmd := validCmd(c, SendBack, disp, at)
			cmd.Reason = ""
			return cmd
		}},
		{event.Closed, "rating", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Visit, disp, at)
			cmd.Rating = 6
			return cmd
		}},
		{event.Visited, "rating", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Rate, sys, at)
			cmd.Rating = RatingNone
			return cmd
		}},
		{event.Dispatched, "merge_into", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Merge, disp, at)
			cmd.MergeInto = ""
			return cmd
		}},
		{event.Dispatched, "merge_into", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Merge, disp, at)
			cmd.MergeInto = c.ID
			return cmd
		}},
		{event.Dispatched, "reason", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Cancel, sys, at)
			cmd.Reason = ""
			return cmd
		}},
		{event.Dispatched, "reason", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Escalate, sys, at)
			cmd.Reason = ""
			return cmd
		}},
		{event.Accepted, "reason", func(c Case, at time.Time) Command {
			cmd := validCmd(c, Suspend, disp, at)
			cmd.Reason = ""
			return cmd
		}},
	}
	for _, tt := range tests {
		r := reach(t, tt.state)
		if tt.field == "id" {
			r.c.ID = ""
		}
		cmd := tt.cmd(r.c, r.now.Add(time.Minute))
		next, tr, err := Decide(r.c, cmd)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s in %q: err = %v, want a FieldError on %s", cmd.Action, tt.state, err, tt.field)
			continue
		}
		if fe.Action != cmd.Action || fe.State != tt.state || !strings.Contains(err.Error(), stateName(tt.state)) {
			t.Errorf("%s in %q: %#v", cmd.Action, tt.state, fe)
		}
		if errors.Is(err, ErrStale) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotAllowed) {
			t.Errorf("%s: a field error is not a %v", cmd.Action, err)
		}
		if !reflect.DeepEqual(next, r.c) || tr.Outcome != Refused {
			t.Errorf("%s in %q: refused command changed the case or was not recorded as refused", cmd.Action, tt.state)
		}
	}
}

// TestTimeWindows: 延期申请 only before the deadline, 退单 only within the
// window; Allowed drops them when the time has passed.
func TestTimeWindows(t *testing.T) {
	r := reach(t, event.InProgress)
	late := r.c.Deadline
	cmd := validCmd(r.c, RequestExtension, worker, late)
	if _, _, err := Decide(r.c, cmd); !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("extension at the deadline: %v", err)
	}
	if slices.Contains(Allowed(r.c, worker, late), RequestExtension) {
		t.Error("Allowed offers an extension after the deadline")
	}
	if !slices.Contains(Allowed(r.c, worker, late.Add(-time.Second)), RequestExtension) {
		t.Error("Allowed hides an extension one second before the deadline")
	}

	after := r.c.ReturnBy.Add(time.Second)
	cmd = validCmd(r.c, Return, worker, after)
	if _, _, err := Decide(r.c, cmd); !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "退单") {
		t.Errorf("return after the window: %v", err)
	}
	if _, _, err := Decide(r.c, validCmd(r.c, Return, worker, r.c.ReturnBy)); err != nil {
		t.Errorf("return at the end of the window: %v", err)
	}
	// No window given: a return is possible at any time.
	r.c.ReturnBy = time.Time{}
	if _, _, err := Decide(r.c, validCmd(r.c, Return, worker, after.Add(1000*time.Hour))); err != nil {
		t.Errorf("return without a window: %v", err)
	}
}

// TestStaleOrder: an old BaseVersion is refused as stale before the state
// is looked at (the state the sender saw is gone), but after the role (a
// reload would not help someone who may never do it).
func TestStaleOrder(t *testing.T) {
	r := reach(t, event.Dispatched)
	for _, actor := range matrixActors {
		for _, a := range Actions() {
			cmd := validCmd(r.c, a, actor, r.now.Add(time.Minute))
			cmd.BaseVersion = r.c.Version - 1
			next, tr, err := Decide(r.c, cmd)
			want := ErrStale
			if !slices.Contains(expect[a].roles, actor.Role) {
				want = ErrForbidden
			}
			if !errors.Is(err, want) {
				t.Errorf("%s by %s on an old version: %v, want %v", a, actor.Role, err, want)
				continue
			}
			if want == ErrStale && !strings.Contains(err.Error(), "version") {
				t.Errorf("%s: %v does not name the versions", a, err)
			}
			if !reflect.DeepEqual(next, r.c) || tr.Outcome != Refused {
				t.Errorf("%s: %+v", a, tr)
			}
		}
	}
}

func TestRolesMatchAuth(t *testing.T) {
	if RoleDispatcher != auth.Dispatcher || RoleWorker != auth.Worker || RoleAdmin != auth.Admin || RoleViewer != auth.Viewer {
		t.Fatal("role names differ from package auth")
	}
}

func TestStatesAreTheEventStates(t *testing.T) {
	if len(States()) != 16 || len(slices.Compact(States())) != 16 {
		t.Fatalf("States = %v", States())
	}
	for _, a := range Actions() {
		if !a.Valid() || a.Name() == string(a) {
			t.Errorf("action %s has no 中文 name", a)
		}
	}
	if Action("x").Valid() || Action("x").Name() != "x" {
		t.Error("unknown action is valid")
	}
	if (Case{ID: "INC-1"}).TaskID() != "" || worker.Event() != (event.Actor{ID: "w1", Role: "worker"}) {
		t.Error("TaskID of an undispatched case, or Actor.Event")
	}
}

// TestReassignSameDepartment: reassigning a department-only task to the
// same department without naming a worker changes nothing and is refused.
func TestReassignSameDepartment(t *testing.T) {
	r := reach(t, event.Filed)
	r.do(Dispatch, disp, assign(dept, "", time.Hour))
	cmd := r.cmd(Reassign, disp, reason("again"), assign(dept, "", time.Hour))
	_, _, err := Decide(r.c, cmd)
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.Contains(fe.Reason, "already assigned to department "+dept) {
		t.Fatalf("same reassignment: %v", err)
	}
	r.do(Reassign, disp, reason("name the worker"), assign(dept, worker.ID, time.Hour))
}

// TestDocTable keeps the table in doc.go true: its from states and roles
// are the rules'.
func TestDocTable(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	cols := regexp.MustCompile(`\s{2,}`)
	doc := map[Action][2][]string{}
	var last Action
	in := false
	for line := range strings.Lines(string(src)) {
		row, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "//\t")
		if strings.HasPrefix(row, "action ") {
			in = true
			continue
		}
		if in = in && ok; !in {
			continue
		}
		f := cols.Split(row, -1)
		if f[0] == "" { // continuation of the from column
			e := doc[last]
			e[0] = append(e[0], strings.Fields(f[1])...)
			doc[last] = e
			continue
		}
		if len(f) != 6 {
			t.Fatalf("doc.go row %q has %d columns", row, len(f))
		}
		last = Action(f[0])
		doc[last] = [2][]string{strings.Fields(f[2]), strings.Fields(strings.ReplaceAll(f[4], "*", ""))}
	}
	if len(doc) != len(Actions()) {
		t.Fatalf("doc.go documents %d actions, there are %d", len(doc), len(Actions()))
	}
	for a, r := range rules {
		d := doc[a]
		var from []string
		switch {
		case a == Receive:
			from = []string{"(new", "case,", "version", "0)"}
		case slices.Equal(r.from, openStates):
			from = []string{"open"}
		default:
			for _, s := range r.from {
				from = append(from, string(s))
			}
		}
		if !slices.Equal(d[0], from) {
			t.Errorf("doc.go: %s from %v, rules say %v", a, d[0], from)
		}
		if !slices.Equal(d[1], r.roles) {
			t.Errorf("doc.go: %s roles %v, rules say %v", a, d[1], r.roles)
		}
	}
}
