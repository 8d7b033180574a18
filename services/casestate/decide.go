package casestate

import (
	"slices"
	"time"

	"github.com/citybrain-ioc/citybrain/services/event"
)

// Decide applies cmd to c. On success it returns the new case (Version one
// higher) and the audit record of the change. On refusal it returns c
// unchanged, a Transition with Outcome Refused (to be recorded, not
// applied), and an error that wraps ErrStale, ErrForbidden or ErrNotAllowed,
// or is a *FieldError.
//
// Decide is pure and deterministic: the same case and command give the same
// result, so replaying the commands topic rebuilds the same state. A command
// delivered twice is refused the second time with ErrStale, because its
// BaseVersion is no longer the case's version; the caller recognises its own
// retry by Command.ID.
func Decide(c Case, cmd Command) (Case, Transition, error) {
	if err := check(c, cmd, true); err != nil {
		tr := record(c, cmd)
		tr.Outcome, tr.Refusal = Refused, err.Error()
		return c, tr, err
	}
	n := apply(c, cmd)
	tr := record(n, cmd)
	tr.Outcome, tr.From = Applied, c.State
	tr.Escalated = n.EscalationLevel > c.EscalationLevel
	return n, tr, nil
}

// Allowed returns the actions a may take on c at time now, in life order:
// the console shows exactly these buttons. It applies every check of Decide
// except the fields a command must carry, so an action listed here can
// still be refused for a missing reason or deadline, and an action not
// listed is always refused.
func Allowed(c Case, a Actor, now time.Time) []Action {
	var out []Action
	for _, act := range actionOrder {
		cmd := Command{Action: act, Actor: a, BaseVersion: c.Version, At: now}
		if check(c, cmd, false) == nil {
			out = append(out, act)
		}
	}
	return out
}

// Overtime is the 超时倍数 of the current task at time now: time used ÷ time
// allowed, both from dispatch to the deadline (or to the stop of the clock)
// less the time not counted (挂账, waiting for 核查 before a 返工). Above 1
// the task is late. It is 0 when the case has no task or the task has no
// deadline. now only matters while the clock runs.
func Overtime(c Case, now time.Time) float64 {
	if c.TaskSeq == 0 || c.DispatchedAt.IsZero() || c.Deadline.IsZero() {
		return 0
	}
	end := now
	switch {
	case !c.StoppedAt.IsZero():
		end = c.StoppedAt
	case !c.SuspendedAt.IsZero():
		end = c.SuspendedAt
	}
	allowed := c.Deadline.Sub(c.DispatchedAt) - c.Paused
	used := end.Sub(c.DispatchedAt) - c.Paused
	if allowed <= 0 || used <= 0 {
		return 0
	}
	return float64(used) / float64(allowed)
}

// apply makes the change; check has accepted it.
func apply(c Case, cmd Command) Case {
	n := c
	n.Version++
	n.UpdatedAt = cmd.At
	at := cmd.At
	switch cmd.Action {
	case Receive:
		n.State, n.ReceivedAt = event.Received, at
	case File:
		n.State, n.FiledAt = event.Filed, at
	case Reject:
		n.State = event.Rejected
	case Dispatch, AutoDispatch, Reassign:
		if n.FiledAt.IsZero() {
			n.FiledAt = at // 自动立案: the routing rule files what it dispatches
		}
		n.State = event.Dispatched
		n.TaskSeq++
		n.Department, n.WorkerID = cmd.Department, cmd.WorkerID
		n.Deadline, n.ReturnBy, n.DispatchedAt = cmd.Deadline, cmd.ReturnBy, at
		n.AcceptedAt, n.HandledAt, n.StoppedAt, n.SuspendedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		n.Paused, n.Prior, n.RequestedDeadline = 0, "", time.Time{}
	case Accept:
		n.State = event.Accepted
		if n.WorkerID == "" {
			n.WorkerID = cmd.Actor.ID // a department's worker takes the task
		}
		if n.AcceptedAt.IsZero() {
			n.AcceptedAt = at // 按时签收 counts the first 签收, not the one after a 返工
		}
	case Start:
		n.State = event.InProgress
	case Suspend:
		n.Prior, n.State, n.SuspendedAt = c.State, event.Suspended, at
	case Resume:
		stopped := at.Sub(c.SuspendedAt)
		n.restart(stopped, cmd.Deadline)
		n.State, n.Prior, n.SuspendedAt = c.Prior, "", time.Time{}
	case RequestExtension:
		n.Prior, n.State, n.RequestedDeadline = c.State, event.ExtensionRequested, cmd.Deadline
	case GrantExtension:
		n.Deadline = c.RequestedDeadline
		if !cmd.Deadline.IsZero() {
			n.Deadline = cmd.Deadline
		}
		n.Extensions++
		n.State, n.Prior, n.RequestedDeadline = c.Prior, "", time.Time{}
	case DenyExtension:
		n.State, n.Prior, n.RequestedDeadline = c.Prior, "", time.Time{}
	case Return:
		n.State = event.Returned
		n.stop(at)
	case Handle:
		n.State, n.HandledAt = event.Handled, at
		n.stop(at)
	case Verify:
		n.State = event.Verified
	case SendBack:
		stopped := at.Sub(c.StoppedAt)
		n.restart(stopped, cmd.Deadline)
		n.State, n.HandledAt, n.StoppedAt = event.Dispatched, time.Time{}, time.Time{}
		n.ReworkCount++
	case Close:
		n.State, n.ClosedAt = event.Closed, at
	case Visit:
		n.VisitedAt = at
		if cmd.Rating == RatingNone {
			n.State = event.Visited
		} else {
			n.rate(cmd.Rating)
		}
	case Rate:
		n.rate(cmd.Rating)
	case Merge:
		n.State, n.MergedInto = event.Merged, cmd.MergeInto
		n.stop(at)
	case Cancel:
		n.State, n.ClosedAt = event.Closed, at
		n.stop(at)
	case Escalate:
		n.EscalationLevel++
	}
	return n
}

// stop stops the task clock, if a task is running, and drops a pending
// suspension or extension request: the case is leaving the worker's hands.
func (c *Case) stop(at time.Time) {
	if c.TaskSeq > 0 && c.StoppedAt.IsZero() {
		c.StoppedAt = at
		if !c.SuspendedAt.IsZero() {
			c.StoppedAt = c.SuspendedAt
		}
	}
	c.SuspendedAt, c.Prior, c.RequestedDeadline = time.Time{}, "", time.Time{}
}

// restart restarts the task clock after it stood still for stopped: that
// time is not counted, and the deadline moves by it unless deadline (from
// the command, e.g. computed in working time) is given.
func (c *Case) restart(stopped time.Duration, deadline time.Time) {
	if stopped > 0 {
		c.Paused += stopped
	}
	if !deadline.IsZero() {
		c.Deadline = deadline
	} else if stopped > 0 {
		c.Deadline = c.Deadline.Add(stopped)
	}
}

// rate records a 好差评: dissatisfied reopens the case (发回重办), and the
// EscalateAfterReopens-th reopen and every later one is 提级督办.
func (c *Case) rate(r Rating) {
	c.Rating = r
	if !r.Dissatisfied() {
		c.State = event.Rated
		return
	}
	c.State, c.ClosedAt = event.Reopened, time.Time{}
	c.ReopenCount++
	if c.ReopenCount >= EscalateAfterReopens {
		c.EscalationLevel++
	}
}

// record builds the audit record of cmd against the case n (the new case
// when applied, the unchanged one when refused).
func record(n Case, cmd Command) Transition {
	return Transition{
		CaseID: n.ID, CommandID: cmd.ID, Action: cmd.Action,
		From: n.State, To: n.State, Version: n.Version, At: cmd.At, Actor: cmd.Actor,
		Reason: cmd.Reason, Note: cmd.Note, Photos: slices.Clone(cmd.Photos),
		TaskSeq: n.TaskSeq, Department: n.Department, WorkerID: n.WorkerID, Deadline: n.Deadline,
		Rating: cmd.Rating, MergeInto: cmd.MergeInto, EventID: cmd.EventID, EscalationLevel: n.EscalationLevel,
	}
}
