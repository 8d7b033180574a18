package casestate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/citybrain-ioc/citybrain/services/event"
)

// States returns every case state in life order (not counting the "" of a
// case not yet received). The slice is a fresh copy.
func States() []event.State { return slices.Clone(states) }

var states = []event.State{
	event.Received, event.Filed, event.Rejected, event.Dispatched, event.Accepted,
	event.InProgress, event.Suspended, event.ExtensionRequested, event.Returned,
	event.Handled, event.Verified, event.Closed, event.Visited, event.Rated,
	event.Reopened, event.Merged,
}

// openStates are the states in which a case still needs work
// (event.State.Open): merge, cancel and escalate apply in all of them.
var openStates = func() []event.State {
	var out []event.State
	for _, s := range states {
		if s.Open() {
			out = append(out, s)
		}
	}
	return out
}()

// rule is one row of the transition table (see doc.go).
type rule struct {
	name  string        // 简体中文
	from  []event.State // states the action applies in
	roles []string      // roles that may send it
	// assignee: a worker sending it must hold the task (be its worker, or
	// be of its department when no worker is named).
	assignee bool
}

var (
	dispatchers = []string{RoleDispatcher, RoleAdmin}
	staff       = []string{RoleDispatcher, RoleAdmin, RoleSystem}
	workers     = []string{RoleWorker}
	workingOn   = []event.State{event.Accepted, event.InProgress}
)

var rules = map[Action]rule{
	Receive:          {"接收", []event.State{""}, []string{RoleSystem}, false},
	File:             {"立案", []event.State{event.Received}, dispatchers, false},
	Reject:           {"不予立案", []event.State{event.Received, event.Filed, event.Returned}, dispatchers, false},
	Dispatch:         {"派遣", []event.State{event.Filed, event.Returned, event.Reopened}, dispatchers, false},
	AutoDispatch:     {"自动派遣", []event.State{event.Received, event.Filed, event.Reopened}, []string{RoleSystem}, false},
	Reassign:         {"改派", []event.State{event.Dispatched, event.Accepted, event.InProgress, event.Suspended, event.ExtensionRequested}, dispatchers, false},
	Accept:           {"签收", []event.State{event.Dispatched}, workers, true},
	Start:            {"开始处置", []event.State{event.Accepted}, workers, true},
	Suspend:          {"挂账", workingOn, dispatchers, false},
	Resume:           {"恢复", []event.State{event.Suspended}, []string{RoleDispatcher, RoleAdmin, RoleWorker}, true},
	RequestExtension: {"延期申请", workingOn, workers, true},
	GrantExtension:   {"同意延期", []event.State{event.ExtensionRequested}, dispatchers, false},
	DenyExtension:    {"驳回延期", []event.State{event.ExtensionRequested}, dispatchers, false},
	Return:           {"退单", []event.State{event.Dispatched, event.Accepted, event.InProgress}, workers, true},
	Handle:           {"处理反馈", []event.State{event.InProgress}, workers, true},
	Verify:           {"核查通过", []event.State{event.Handled}, dispatchers, false},
	SendBack:         {"返工", []event.State{event.Handled}, dispatchers, false},
	Close:            {"结案", []event.State{event.Verified}, dispatchers, false},
	Visit:            {"回访", []event.State{event.Closed}, staff, false},
	Rate:             {"评价", []event.State{event.Closed, event.Visited}, staff, false},
	Merge:            {"合并", openStates, dispatchers, false},
	Cancel:           {"撤销", openStates, staff, false},
	Escalate:         {"督办", openStates, staff, false},
	Split:            {"拆分", openStates, dispatchers, false},
}

// check decides whether cmd may be applied to c, in this order: the
// command's shape (action, actor, time), the role (ErrForbidden), the
// version (ErrStale), the state (ErrNotAllowed), the actor's hold on the task
// (ErrForbidden), the time windows (ErrNotAllowed), and, if fields is set,
// the action's fields (*FieldError). Allowed calls it with fields unset.
func check(c Case, cmd Command, fields bool) error {
	r, ok := rules[cmd.Action]
	if !ok {
		return &FieldError{Field: "action", Reason: fmt.Sprintf("unknown action %q", cmd.Action), Action: cmd.Action, State: c.State}
	}
	if strings.TrimSpace(cmd.Actor.ID) == "" {
		return &FieldError{Field: "actor.id", Reason: "required: every change records who made it", Action: cmd.Action, State: c.State}
	}
	if cmd.At.IsZero() {
		return &FieldError{Field: "at", Reason: "required: every change records when it was made", Action: cmd.Action, State: c.State}
	}
	if !slices.Contains(r.roles, cmd.Actor.Role) {
		return fmt.Errorf("%w: %s in state %s: role %q may not %s (%s); allowed roles: %s",
			ErrForbidden, cmd.Action, stateName(c.State), cmd.Actor.Role, cmd.Action, r.name, strings.Join(r.roles, ", "))
	}
	if cmd.BaseVersion != c.Version {
		return fmt.Errorf("%w: %s in state %s: the command is based on version %d but case %s is at version %d; reload and try again",
			ErrStale, cmd.Action, stateName(c.State), cmd.BaseVersion, c.ID, c.Version)
	}
	if !slices.Contains(r.from, c.State) {
		if c.State == "" {
			return fmt.Errorf("%w: %s in state %s: case %s has not been received yet", ErrNotAllowed, cmd.Action, stateName(c.State), c.ID)
		}
		return fmt.Errorf("%w: %s in state %s: %s (%s) is only possible in state %s",
			ErrNotAllowed, cmd.Action, stateName(c.State), cmd.Action, r.name, joinStates(r.from))
	}
	if r.assignee && cmd.Actor.Role == RoleWorker {
		if err := holds(c, cmd); err != nil {
			return err
		}
	}
	switch cmd.Action {
	case RequestExtension:
		// 延期申请 before expiry (国办发〔2020〕53号).
		if !cmd.At.Before(c.Deadline) {
			return fmt.Errorf("%w: %s in state %s: the deadline %s has passed; an extension must be requested before it",
				ErrNotAllowed, cmd.Action, stateName(c.State), stamp(c.Deadline))
		}
	case Return:
		if !c.ReturnBy.IsZero() && cmd.At.After(c.ReturnBy) {
			return fmt.Errorf("%w: %s in state %s: the window for 退单 closed at %s",
				ErrNotAllowed, cmd.Action, stateName(c.State), stamp(c.ReturnBy))
		}
	}
	if fields {
		if err := validate(c, cmd); err != nil {
			return err
		}
	}
	return nil
}

// holds checks that a worker holds the task: it names them, or it names
// only a department and they belong to it.
func holds(c Case, cmd Command) error {
	a := cmd.Actor
	switch {
	case c.WorkerID != "" && a.ID == c.WorkerID:
		return nil
	case c.WorkerID != "":
		return fmt.Errorf("%w: %s in state %s: task %s is assigned to worker %s, not to %s",
			ErrForbidden, cmd.Action, stateName(c.State), c.TaskID(), c.WorkerID, a.ID)
	case c.Department != "" && a.Department == c.Department:
		return nil
	default:
		return fmt.Errorf("%w: %s in state %s: task %s is assigned to department %s and worker %s is not in it",
			ErrForbidden, cmd.Action, stateName(c.State), c.TaskID(), c.Department, a.ID)
	}
}

// validate checks the fields the action needs (the table in doc.go).
func validate(c Case, cmd Command) error {
	bad := func(field, reason string) error {
		return &FieldError{Field: field, Reason: reason, Action: cmd.Action, State: c.State}
	}
	blank := func(s string) bool { return strings.TrimSpace(s) == "" }
	switch cmd.Action {
	case Reject, Reassign, Suspend, RequestExtension, DenyExtension, Return, SendBack, Merge, Cancel, Escalate, Split:
		if blank(cmd.Reason) {
			return bad("reason", "required: say why ("+rules[cmd.Action].name+")")
		}
	}
	switch cmd.Action {
	case Receive:
		if blank(c.ID) {
			return bad("id", "the case to receive has no id")
		}
	case Dispatch, AutoDispatch, Reassign:
		if blank(cmd.Department) {
			return bad("department", "required: the department the task goes to")
		}
		if !cmd.Deadline.After(cmd.At) {
			return bad("deadline", "required, and after the command time "+stamp(cmd.At))
		}
		if !cmd.ReturnBy.IsZero() && cmd.ReturnBy.Before(cmd.At) {
			return bad("return_by", "must not be before the command time "+stamp(cmd.At))
		}
		if cmd.Action == Reassign && cmd.Department == c.Department && cmd.WorkerID == c.WorkerID {
			return bad("department", "the task is already assigned to "+assignment(c)+"; reassign to someone else")
		}
	case RequestExtension:
		if !cmd.Deadline.After(c.Deadline) {
			return bad("deadline", "required: the new deadline asked for, after the current one "+stamp(c.Deadline))
		}
	case GrantExtension:
		if !cmd.Deadline.IsZero() && !cmd.Deadline.After(c.Deadline) {
			return bad("deadline", "must be after the current deadline "+stamp(c.Deadline)+" (or empty to grant the one requested)")
		}
	case Resume, SendBack:
		if !cmd.Deadline.IsZero() && !cmd.Deadline.After(cmd.At) {
			return bad("deadline", "must be after the command time "+stamp(cmd.At)+" (or empty to move it by the time stopped)")
		}
	case Handle:
		if blank(cmd.Note) {
			return bad("note", "required: what was done (处理反馈)")
		}
		for i, p := range cmd.Photos {
			if blank(p) {
				return bad(fmt.Sprintf("photos[%d]", i), "empty photo reference")
			}
		}
	case Visit:
		if cmd.Rating != RatingNone && !cmd.Rating.Valid() {
			return bad("rating", fmt.Sprintf("%d is not a level: want 1 (非常不满意) … 5 (非常满意), or 0 for a 回访 without rating", cmd.Rating))
		}
	case Rate:
		if !cmd.Rating.Valid() {
			return bad("rating", fmt.Sprintf("required: 1 (非常不满意) … 5 (非常满意), got %d", cmd.Rating))
		}
	case Merge:
		if blank(cmd.MergeInto) {
			return bad("merge_into", "required: the incident this one duplicates")
		}
		if cmd.MergeInto == c.ID {
			return bad("merge_into", "a case cannot be merged into itself")
		}
	case Split:
		// Whether the report belongs to the case, and is not its only one,
		// is checked by the dispatcher, which holds the case's reports.
		if blank(cmd.EventID) {
			return bad("event_id", "required: the fused report to split out into a case of its own")
		}
	}
	return nil
}

func assignment(c Case) string {
	if c.WorkerID == "" {
		return "department " + c.Department
	}
	return "department " + c.Department + ", worker " + c.WorkerID
}

func joinStates(ss []event.State) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = stateName(s)
	}
	return strings.Join(parts, ", ")
}

func stamp(t time.Time) string { return t.Format(time.RFC3339) }
