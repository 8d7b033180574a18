package casestate

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citybrain-ioc/citybrain/services/event"
)

// doneMeans plays issue 5's "Done means" loop and returns the runner and
// the commands it applied.
func doneMeans(t *testing.T) (*runner, []Command) {
	r := newRunner(t, "INC-7")
	var cmds []Command
	do := func(a Action, actor Actor, opts ...func(*Command)) Transition {
		t.Helper()
		cmd := r.cmd(a, actor, opts...)
		next, tr, err := Decide(r.c, cmd)
		if err != nil {
			t.Fatalf("%s by %s: %v", a, actor.ID, err)
		}
		r.c, r.trail, cmds = next, append(r.trail, tr), append(cmds, cmd)
		return tr
	}

	do(Receive, sys)
	do(File, disp)
	do(Dispatch, disp, assign(dept, worker.ID, 24*time.Hour))
	first := r.c.Deadline
	do(Accept, worker)
	acceptedAt := r.c.AcceptedAt
	do(Start, worker)
	asked := first.Add(24 * time.Hour)
	do(RequestExtension, worker, reason("parts on order"), deadline(asked))
	if !r.c.Deadline.Equal(first) {
		t.Fatalf("a request moved the deadline to %v", r.c.Deadline)
	}
	do(GrantExtension, disp)
	if !r.c.Deadline.Equal(asked) || r.c.State != event.InProgress || r.c.Extensions != 1 {
		t.Fatalf("after grant: deadline %v state %s", r.c.Deadline, r.c.State)
	}
	do(Handle, worker, note("垃圾已清运"), func(c *Command) { c.Photos = []string{"before.jpg", "after.jpg"} })
	r.wait(2 * time.Hour)
	do(SendBack, disp, reason("核查: 仍有垃圾"))
	if r.c.State != event.Dispatched || r.c.WorkerID != worker.ID || r.c.TaskSeq != 1 || r.c.ReworkCount != 1 {
		t.Fatalf("after send_back: %+v", r.c)
	}
	if !r.c.Deadline.Equal(asked.Add(2*time.Hour + time.Minute)) {
		t.Fatalf("send_back: deadline %v, want moved by the wait for 核查", r.c.Deadline)
	}
	do(Accept, worker)
	if !r.c.AcceptedAt.Equal(acceptedAt) {
		t.Fatal("re-accept after 返工 overwrote the first 签收")
	}
	do(Start, worker)
	do(Handle, worker, note("已彻底清理"))
	do(Verify, disp)
	do(Close, disp)
	do(Visit, disp, rating(RatingDissatisfied))
	if r.c.State != event.Reopened || r.c.ReopenCount != 1 || !r.c.ClosedAt.IsZero() {
		t.Fatalf("after 不满意: %+v", r.c)
	}
	do(Dispatch, disp, assign(dept, worker.ID, 24*time.Hour))
	if r.c.TaskSeq != 2 || r.c.TaskID() != "TSK-7-2" || !r.c.AcceptedAt.IsZero() {
		t.Fatalf("second task: %+v", r.c)
	}
	do(Accept, worker)
	do(Start, worker)
	before := r.c.Deadline
	do(RequestExtension, worker, reason("again"), deadline(before.Add(time.Hour)))
	do(DenyExtension, disp, reason("not needed"))
	if !r.c.Deadline.Equal(before) || !r.c.RequestedDeadline.IsZero() || r.c.Extensions != 1 {
		t.Fatalf("deny moved the deadline or kept the request: %+v", r.c)
	}
	do(Handle, worker, note("复查已清理"))
	do(Verify, admin)
	do(Close, admin)
	do(Visit, sys, rating(RatingSatisfied))
	return r, cmds
}

func TestDoneMeansLoop(t *testing.T) {
	r, _ := doneMeans(t)
	c := r.c
	if c.State != event.Rated || c.Rating != RatingSatisfied || c.ReworkCount != 1 || c.ReopenCount != 1 ||
		c.TaskSeq != 2 || c.EscalationLevel != 0 || c.Version != len(r.trail) {
		t.Fatalf("final case: %+v", c)
	}
	want := []string{
		"receive →received system", "file received→filed d1", "dispatch filed→dispatched d1",
		"accept dispatched→accepted w1", "start accepted→in_progress w1",
		"request_extension in_progress→extension_requested w1", "grant_extension extension_requested→in_progress d1",
		"handle in_progress→handled w1", "send_back handled→dispatched d1",
		"accept dispatched→accepted w1", "start accepted→in_progress w1", "handle in_progress→handled w1",
		"verify handled→verified d1", "close verified→closed d1", "visit closed→reopened d1",
		"dispatch reopened→dispatched d1", "accept dispatched→accepted w1", "start accepted→in_progress w1",
		"request_extension in_progress→extension_requested w1", "deny_extension extension_requested→in_progress d1",
		"handle in_progress→handled w1", "verify handled→verified a1", "close verified→closed a1",
		"visit closed→rated system",
	}
	var got []string
	for i, tr := range r.trail {
		got = append(got, fmt.Sprintf("%s %s→%s %s", tr.Action, tr.From, tr.To, tr.Actor.ID))
		if tr.Version != i+1 || tr.Outcome != Applied || tr.CaseID != "INC-7" || tr.CommandID == "" {
			t.Errorf("step %d: %+v", i, tr)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("trail:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The audit record carries the reasons, notes, photos and ratings.
	if tr := r.trail[8]; tr.Reason != "核查: 仍有垃圾" || tr.TaskSeq != 1 {
		t.Errorf("send_back record: %+v", tr)
	}
	if tr := r.trail[7]; tr.Note != "垃圾已清运" || len(tr.Photos) != 2 || tr.Department != dept || tr.WorkerID != worker.ID {
		t.Errorf("handle record: %+v", tr)
	}
	if tr := r.trail[14]; tr.Rating != RatingDissatisfied || tr.Escalated {
		t.Errorf("visit record: %+v", tr)
	}
}

// TestReplay: the same commands from the start give the same state and
// trail, and a command delivered again is refused as stale.
func TestReplay(t *testing.T) {
	r, cmds := doneMeans(t)
	c := Case{ID: "INC-7"}
	var trail []Transition
	for _, cmd := range cmds {
		next, tr, err := Decide(c, cmd)
		if err != nil {
			t.Fatalf("replay %s: %v", cmd.Action, err)
		}
		again, atr, err := Decide(next, cmd) // duplicate delivery
		if !errors.Is(err, ErrStale) || !reflect.DeepEqual(again, next) || atr.Outcome != Refused {
			t.Fatalf("duplicate %s: %v", cmd.Action, err)
		}
		c, trail = next, append(trail, tr)
	}
	if !reflect.DeepEqual(c, r.c) || !reflect.DeepEqual(trail, r.trail) {
		t.Fatal("replay gave a different case or trail")
	}
}

// TestConcurrentAssignment: two dispatchers assign the same case from the
// same version; the first applied wins, the second is stale (409), and the
// case carries exactly one assignment.
func TestConcurrentAssignment(t *testing.T) {
	r := reach(t, event.Filed)
	at := r.now.Add(time.Minute)
	a := Command{ID: "a", Action: Dispatch, Actor: disp, BaseVersion: r.c.Version, At: at, Department: dept, WorkerID: "w1", Deadline: at.Add(time.Hour)}
	b := Command{ID: "b", Action: Dispatch, Actor: disp2, BaseVersion: r.c.Version, At: at, Department: otherDept, WorkerID: "w7", Deadline: at.Add(time.Hour)}

	// Decide is pure: deciding both at once from the same case is safe
	// (run with -race) and each alone would succeed.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, cmd := range []Command{a, b} {
		wg.Go(func() { _, _, errs[i] = Decide(r.c, cmd) })
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("each alone: %v, %v", errs[0], errs[1])
	}

	// The partition orders them: one winner.
	won, _, err := Decide(r.c, a)
	if err != nil {
		t.Fatal(err)
	}
	lost, tr, err := Decide(won, b)
	if !errors.Is(err, ErrStale) {
		t.Fatalf("second assignment: %v, want ErrStale", err)
	}
	if !reflect.DeepEqual(lost, won) || won.Department != dept || won.WorkerID != "w1" || won.TaskSeq != 1 {
		t.Fatalf("case after the race: %+v", lost)
	}
	if tr.Outcome != Refused || tr.Actor != disp2 || !strings.Contains(tr.Refusal, "version") {
		t.Fatalf("the loser's refusal record: %+v", tr)
	}
}

// TestThreeReopensEscalate: every 不满意 reopens; the third reopen and every
// later one is 提级督办.
func TestThreeReopensEscalate(t *testing.T) {
	r := reach(t, event.Closed)
	for n := 1; n <= 4; n++ {
		tr := r.do(Visit, sys, rating(RatingVeryDissatisfied))
		if r.c.State != event.Reopened || r.c.ReopenCount != n {
			t.Fatalf("reopen %d: %+v", n, r.c)
		}
		wantLevel := max(0, n-EscalateAfterReopens+1)
		if tr.Escalated != (n >= EscalateAfterReopens) || r.c.EscalationLevel != wantLevel || tr.EscalationLevel != wantLevel {
			t.Fatalf("reopen %d: escalated %v level %d, want level %d", n, tr.Escalated, r.c.EscalationLevel, wantLevel)
		}
		// The routing rule sends it back to the 承办单位.
		r.do(AutoDispatch, sys, assign(dept, worker.ID, 24*time.Hour))
		if r.c.TaskSeq != n+1 {
			t.Fatalf("reopen %d: task %d", n, r.c.TaskSeq)
		}
		r.do(Accept, worker)
		r.do(Start, worker)
		r.do(Handle, worker, note("again"))
		r.do(Verify, disp)
		r.do(Close, disp)
	}
	r.do(Rate, sys, rating(RatingFair)) // 基本满意 is satisfied
	if r.c.State != event.Rated || r.c.ReopenCount != 4 || r.c.EscalationLevel != 2 {
		t.Fatalf("final: %+v", r.c)
	}
}

func TestEscalateIsRecordedWithoutStateChange(t *testing.T) {
	r := reach(t, event.InProgress)
	before := r.c
	tr := r.do(Escalate, sys, reason("超时 2 小时"))
	if r.c.State != before.State || r.c.Version != before.Version+1 || r.c.EscalationLevel != 1 ||
		!tr.Escalated || tr.From != tr.To || tr.Reason != "超时 2 小时" {
		t.Fatalf("escalate: %+v %+v", r.c, tr)
	}
	// The worker can carry on.
	r.do(Handle, worker, note("done"))
}

// TestMergeFromEveryOpenState: a duplicate is merged from wherever it is;
// afterwards nobody can do anything with it and its clock stands still.
func TestMergeFromEveryOpenState(t *testing.T) {
	for _, s := range States() {
		if !s.Open() {
			continue
		}
		r := reach(t, s)
		tr := r.do(Merge, disp, reason("同一地点重复上报"), func(c *Command) { c.MergeInto = "INC-2" })
		if r.c.State != event.Merged || r.c.MergedInto != "INC-2" || tr.From != s || tr.MergeInto != "INC-2" {
			t.Errorf("merge from %s: %+v", s, r.c)
		}
		if r.c.TaskSeq > 0 && r.c.StoppedAt.IsZero() {
			t.Errorf("merge from %s: the task clock still runs", s)
		}
		if r.c.Prior != "" || !r.c.RequestedDeadline.IsZero() || !r.c.SuspendedAt.IsZero() {
			t.Errorf("merge from %s: left a pending suspension or request: %+v", s, r.c)
		}
		if o1, o2 := Overtime(r.c, r.now), Overtime(r.c, r.now.Add(1000*time.Hour)); o1 != o2 {
			t.Errorf("merge from %s: overtime %v then %v", s, o1, o2)
		}
		for _, a := range []Actor{sys, disp, admin, worker, viewer} {
			if got := Allowed(r.c, a, r.now); len(got) != 0 {
				t.Errorf("merged from %s: %s may still %v", s, a.Role, got)
			}
		}
	}
}

// TestCancel: a CAP Cancel closes the inspection task wherever it is.
func TestCancel(t *testing.T) {
	r := newRunner(t, "INC-CAP")
	r.do(Receive, sys)
	r.do(AutoDispatch, sys, assign("应急管理局", "", 6*time.Hour))
	if r.c.FiledAt.IsZero() {
		t.Error("auto_dispatch from received did not file the case (自动立案)")
	}
	tr := r.do(Cancel, sys, reason("CAP Cancel: 暴雨蓝色预警解除"))
	if r.c.State != event.Closed || r.c.ClosedAt.IsZero() || r.c.StoppedAt.IsZero() || tr.From != event.Dispatched {
		t.Fatalf("cancel: %+v", r.c)
	}
}

// TestReassign starts a new task and drops whatever the old one had pending.
func TestReassign(t *testing.T) {
	r := reach(t, event.ExtensionRequested)
	tr := r.do(Reassign, disp, reason("属住建局管辖"), assign(otherDept, "", 12*time.Hour))
	c := r.c
	if c.State != event.Dispatched || c.TaskSeq != 2 || c.Department != otherDept || c.WorkerID != "" ||
		c.Prior != "" || !c.RequestedDeadline.IsZero() || !c.AcceptedAt.IsZero() || tr.Department != otherDept {
		t.Fatalf("reassign: %+v", c)
	}
	if _, _, err := Decide(c, r.cmd(Accept, worker)); !errors.Is(err, ErrForbidden) {
		t.Fatalf("the old department's worker accepted the new task: %v", err)
	}
	r.do(Accept, outsider)
}

func TestSuspendAndResume(t *testing.T) {
	r := reach(t, event.Accepted)
	r.do(Suspend, disp, reason("挂账: 待资金"))
	if got := Allowed(r.c, worker, r.now); !slices.Equal(got, []Action{Resume}) {
		t.Errorf("worker may %v while suspended, want [resume]", got)
	}
	r.do(Resume, worker)
	if r.c.State != event.Accepted || r.c.Prior != "" || !r.c.SuspendedAt.IsZero() {
		t.Fatalf("resume: %+v", r.c)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestOvertime(t *testing.T) {
	if got := Overtime(reach(t, event.Filed).c, t0.Add(time.Hour)); got != 0 {
		t.Errorf("no task: %v", got)
	}

	// Dispatched at D with 10 hours; the steps in between take a minute each.
	r := reach(t, event.Filed)
	r.do(Dispatch, disp, assign(dept, worker.ID, 10*time.Hour))
	d := r.c.DispatchedAt
	if got := Overtime(r.c, d.Add(5*time.Hour)); !near(got, 0.5) {
		t.Errorf("half way: %v", got)
	}
	if got := Overtime(r.c, d.Add(-time.Hour)); got != 0 {
		t.Errorf("before dispatch: %v", got)
	}
	r.do(Accept, worker)
	r.do(Start, worker)
	r.now = d.Add(2*time.Hour - time.Minute)
	r.do(Suspend, disp, reason("挂账")) // at D+2h
	if got := Overtime(r.c, d.Add(100*time.Hour)); !near(got, 0.2) {
		t.Errorf("suspended at 2h of 10h: %v", got)
	}
	r.now = d.Add(6*time.Hour - time.Minute)
	r.do(Resume, disp) // at D+6h: 4h not counted, deadline D+14h
	if !r.c.Deadline.Equal(d.Add(14*time.Hour)) || r.c.Paused != 4*time.Hour {
		t.Fatalf("resume: deadline %v paused %v", r.c.Deadline.Sub(d), r.c.Paused)
	}
	if got := Overtime(r.c, d.Add(7*time.Hour)); !near(got, 0.3) {
		t.Errorf("an hour after resuming: %v", got)
	}
	r.now = d.Add(15*time.Hour - time.Minute)
	r.do(Handle, worker, note("late")) // at D+15h, an hour after the deadline
	if got := Overtime(r.c, d.Add(100*time.Hour)); !near(got, 1.1) {
		t.Errorf("handled an hour late: %v", got)
	}

	// A 返工 does not charge the wait for 核查, and the resume deadline can
	// be given in working time.
	r.now = d.Add(18*time.Hour - time.Minute)
	r.do(SendBack, disp, reason("返工"), deadline(d.Add(20*time.Hour)))
	if r.c.Paused != 7*time.Hour || !r.c.HandledAt.IsZero() || !r.c.StoppedAt.IsZero() {
		t.Fatalf("send_back: %+v", r.c)
	}
	// allowed = 20h − 7h paused = 13h; used at D+19h = 12h.
	if got := Overtime(r.c, d.Add(19*time.Hour)); !near(got, 12.0/13.0) {
		t.Errorf("after 返工: %v", got)
	}
	// Overtime > 1 exactly after the deadline.
	if Overtime(r.c, r.c.Deadline) != 1 || Overtime(r.c, r.c.Deadline.Add(time.Second)) <= 1 {
		t.Error("overtime is not 1 at the deadline")
	}
}

func TestRating(t *testing.T) {
	names := []string{"非常不满意", "不满意", "基本满意", "满意", "非常满意"}
	for i, n := range names {
		r := Rating(i + 1)
		if r.String() != n {
			t.Errorf("%d: %s, want %s", r, r, n)
		}
		for _, s := range []string{n, fmt.Sprint(i + 1)} {
			if got, err := ParseRating(s); err != nil || got != r {
				t.Errorf("ParseRating(%q) = %v, %v", s, got, err)
			}
		}
		if r.Dissatisfied() != (i < 2) {
			t.Errorf("%s dissatisfied = %v", r, r.Dissatisfied())
		}
	}
	for _, s := range []string{"", "0", "6", "好评"} {
		if _, err := ParseRating(s); err == nil {
			t.Errorf("ParseRating(%q) accepted", s)
		}
	}
	if RatingNone.String() != "未评价" || Rating(9).String() != "Rating(9)" {
		t.Error("names of no and bad ratings")
	}
}

// TestNoAliasing: the audit record does not share the command's photos.
func TestNoAliasing(t *testing.T) {
	r := reach(t, event.InProgress)
	cmd := validCmd(r.c, Handle, worker, r.now.Add(time.Minute))
	_, tr, err := Decide(r.c, cmd)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Photos[0] = "changed"
	if tr.Photos[0] != "p1.jpg" {
		t.Fatal("the transition shares the command's photo slice")
	}
}
