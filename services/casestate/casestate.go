package casestate

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/citybrain-ioc/citybrain/services/event"
)

// Action is a command on a case. The string is the wire name: the last
// segment of POST /api/v1/tasks/{id}/{action} and the action of the
// lifecycle event on the tasks topic.
type Action string

// Actions, in the order of the case's life; Actions returns them in this
// order and Allowed keeps it, so the console's buttons do not jump around.
const (
	Receive          Action = "receive"           // 接收: the case is opened (system)
	File             Action = "file"              // 立案
	Reject           Action = "reject"            // 不予立案/注销
	Dispatch         Action = "dispatch"          // 派遣 by a dispatcher
	AutoDispatch     Action = "auto_dispatch"     // 自动派遣 by the routing rule (implies 立案)
	Reassign         Action = "reassign"          // 改派
	Accept           Action = "accept"            // 签收
	Start            Action = "start"             // 开始处置
	Suspend          Action = "suspend"           // 挂账/缓办
	Resume           Action = "resume"            // 恢复 (挂账 lifted)
	RequestExtension Action = "request_extension" // 延期申请
	GrantExtension   Action = "grant_extension"   // 同意延期
	DenyExtension    Action = "deny_extension"    // 驳回延期
	Return           Action = "return"            // 退单
	Handle           Action = "handle"            // 处理反馈
	Verify           Action = "verify"            // 核查通过
	SendBack         Action = "send_back"         // 核查不通过, 返工
	Close            Action = "close"             // 结案
	Visit            Action = "visit"             // 回访
	Rate             Action = "rate"              // 评价 (好差评)
	Merge            Action = "merge"             // 合并 into another incident
	Cancel           Action = "cancel"            // 撤销 (e.g. a CAP Cancel)
	Escalate         Action = "escalate"          // 督办 (no state change)
	Split            Action = "split"             // 拆分: one fused report becomes a case of its own (no state change)
)

var actionOrder = []Action{
	Receive, File, Reject, Dispatch, AutoDispatch, Reassign, Accept, Start,
	Suspend, Resume, RequestExtension, GrantExtension, DenyExtension, Return,
	Handle, Verify, SendBack, Close, Visit, Rate, Merge, Cancel, Escalate, Split,
}

// Actions returns every action in life order. The slice is a fresh copy.
func Actions() []Action { return append([]Action(nil), actionOrder...) }

// Name is the action's 简体中文 name, for the console and the timeline.
func (a Action) Name() string {
	if r, ok := rules[a]; ok {
		return r.name
	}
	return string(a)
}

// Valid reports whether a is one of the actions above.
func (a Action) Valid() bool { _, ok := rules[a]; return ok }

// Roles. The values are the token roles of package auth, plus "system"
// for the platform's own services (intake, routing, the SLA timer).
const (
	RoleSystem     = "system"
	RoleDispatcher = "dispatcher"
	RoleWorker     = "worker"
	RoleAdmin      = "admin"
	RoleViewer     = "viewer"
)

// Actor is who sends a command. Department is the worker's department; it
// decides whether a worker may act on a task assigned to the department
// without a named worker. A dispatcher's jurisdiction (which towns they
// may touch) is the caller's check: this package knows no geography.
type Actor struct {
	ID         string `json:"id"`
	Role       string `json:"role"`
	Department string `json:"department,omitempty"`
}

// Event returns the actor as the event package records it.
func (a Actor) Event() event.Actor { return event.Actor{ID: a.ID, Role: a.Role} }

// Rating is a 好差评 level. Higher is better, as on the national 政务服务
// 好差评 scale; 0 means not rated.
type Rating int

// The five 好差评 levels.
const (
	RatingNone             Rating = 0
	RatingVeryDissatisfied Rating = 1 // 非常不满意
	RatingDissatisfied     Rating = 2 // 不满意
	RatingFair             Rating = 3 // 基本满意
	RatingSatisfied        Rating = 4 // 满意
	RatingVerySatisfied    Rating = 5 // 非常满意
)

var ratingNames = [...]string{"", "非常不满意", "不满意", "基本满意", "满意", "非常满意"}

// Valid reports whether r is one of the five levels (not RatingNone).
func (r Rating) Valid() bool { return r >= RatingVeryDissatisfied && r <= RatingVerySatisfied }

// Dissatisfied reports whether r sends the case back (发回重办): 不满意 or
// 非常不满意. 基本满意 counts as satisfied, as it does in the 满意率.
func (r Rating) Dissatisfied() bool { return r == RatingDissatisfied || r == RatingVeryDissatisfied }

// String returns the 简体中文 name, or "未评价" for RatingNone.
func (r Rating) String() string {
	if r == RatingNone {
		return "未评价"
	}
	if !r.Valid() {
		return "Rating(" + strconv.Itoa(int(r)) + ")"
	}
	return ratingNames[r]
}

// ParseRating accepts a level as a digit ("1" … "5") or by its 简体中文
// name ("非常满意" … "非常不满意").
func ParseRating(s string) (Rating, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.Atoi(s); err == nil && Rating(n).Valid() {
		return Rating(n), nil
	}
	for i := 1; i < len(ratingNames); i++ {
		if s == ratingNames[i] {
			return Rating(i), nil
		}
	}
	return RatingNone, fmt.Errorf("rating %q: want 1..5 or 非常满意, 满意, 基本满意, 不满意, 非常不满意", s)
}

// EscalateAfterReopens is how many reopenings (发回重办) make a case
// 提级督办: the reopen that reaches it, and every later one, raises the
// escalation level and sets Transition.Escalated.
const EscalateAfterReopens = 3

// Case is the state of one incident (案件) and its current task (任务/工单),
// as far as the state machine needs it. It is a value: Decide returns a new
// one and never changes the one it is given.
//
// The task clock: a task's time runs from DispatchedAt and stops at 处理反馈
// (handle), 退单 (return), merge or cancel (StoppedAt). Time in 挂账
// (suspended) and time waiting for 核查 before a 返工 are not counted
// (Paused), and the deadline moves by the same amount unless the command
// that restarts the clock gives a new one. So Overtime > 1 exactly when the
// task finished, or is still running, after its deadline.
type Case struct {
	ID      string      `json:"id"`
	Version int         `json:"version"` // 0 before receive; +1 per applied transition
	State   event.State `json:"state"`   // "" before receive

	// The current task. TaskSeq is its 1-based number (0: never dispatched);
	// every dispatch, auto_dispatch and reassign starts a new task, a 返工
	// (send_back) continues the same one.
	TaskSeq      int           `json:"task_seq"`
	Department   string        `json:"department,omitempty"`
	WorkerID     string        `json:"worker_id,omitempty"`
	Deadline     time.Time     `json:"deadline,omitzero"`
	ReturnBy     time.Time     `json:"return_by,omitzero"` // 退单 allowed until then; zero: no limit
	DispatchedAt time.Time     `json:"dispatched_at,omitzero"`
	AcceptedAt   time.Time     `json:"accepted_at,omitzero"` // first 签收 of this task
	HandledAt    time.Time     `json:"handled_at,omitzero"`  // latest 处理反馈 that still stands
	StoppedAt    time.Time     `json:"stopped_at,omitzero"`  // the task clock stopped; zero while it runs
	SuspendedAt  time.Time     `json:"suspended_at,omitzero"`
	Paused       time.Duration `json:"paused,omitempty"` // not counted against this task, nanoseconds

	// Prior is the state that resume, grant_extension and deny_extension go
	// back to (accepted or in_progress); empty unless suspended or
	// extension_requested.
	Prior event.State `json:"prior,omitempty"`
	// RequestedDeadline is the deadline a pending 延期申请 asks for; zero
	// when none is pending.
	RequestedDeadline time.Time `json:"requested_deadline,omitzero"`
	Extensions        int       `json:"extensions,omitempty"` // granted on this case

	ReceivedAt time.Time `json:"received_at,omitzero"`
	FiledAt    time.Time `json:"filed_at,omitzero"`
	ClosedAt   time.Time `json:"closed_at,omitzero"` // zero unless closed now (a reopen clears it)
	VisitedAt  time.Time `json:"visited_at,omitzero"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`

	ReworkCount     int    `json:"rework_count,omitempty"`     // 返工: failed 核查
	ReopenCount     int    `json:"reopen_count,omitempty"`     // 发回重办: dissatisfied ratings
	EscalationLevel int    `json:"escalation_level,omitempty"` // 督办 and 提级督办 so far
	Rating          Rating `json:"rating,omitempty"`           // the latest 好差评
	MergedInto      string `json:"merged_into,omitempty"`
}

// TaskID is the id of the current task (event.TaskIDFor), or "" if the
// case was never dispatched.
func (c Case) TaskID() string {
	if c.TaskSeq == 0 {
		return ""
	}
	return event.TaskIDFor(c.ID, c.TaskSeq)
}

// Command asks for one state change. Which fields an action needs is in the
// table in the package documentation; fields an action does not use are
// ignored. Times are the caller's: the package never reads a clock.
type Command struct {
	ID          string    `json:"id,omitempty"` // for the audit record and the caller's de-duplication
	Action      Action    `json:"action"`
	Actor       Actor     `json:"actor"`
	BaseVersion int       `json:"base_version"` // the Case.Version the sender saw
	At          time.Time `json:"at"`

	Reason     string    `json:"reason,omitempty"`
	Note       string    `json:"note,omitempty"`
	Photos     []string  `json:"photos,omitempty"`
	Department string    `json:"department,omitempty"`
	WorkerID   string    `json:"worker_id,omitempty"`
	Deadline   time.Time `json:"deadline,omitzero"`  // computed by the caller (working time, per rule)
	ReturnBy   time.Time `json:"return_by,omitzero"` // for a dispatch: end of the 退单 window
	Rating     Rating    `json:"rating,omitempty"`
	MergeInto  string    `json:"merge_into,omitempty"`
	// EventID names the fused report a split takes out of the case.
	EventID string `json:"event_id,omitempty"`
}

// Outcome says whether a Transition was applied or refused.
type Outcome string

// Outcomes.
const (
	Applied Outcome = "applied"
	Refused Outcome = "refused"
)

// Transition is the audit record of one command: what was asked, by whom,
// when, and what came of it (GB/T 22239 level-3 audit content: actor, time,
// action, outcome). Decide returns one for refusals too, so the caller can
// record every attempt; a refused Transition must not be applied.
type Transition struct {
	CaseID    string      `json:"case_id"`
	CommandID string      `json:"command_id,omitempty"`
	Action    Action      `json:"action"`
	Outcome   Outcome     `json:"outcome"`
	Refusal   string      `json:"refusal,omitempty"` // why, in plain words, when refused
	From      event.State `json:"from,omitempty"`
	To        event.State `json:"to"`
	Version   int         `json:"version"` // the case version after the command
	At        time.Time   `json:"at"`
	Actor     Actor       `json:"actor"`

	Reason     string    `json:"reason,omitempty"`
	Note       string    `json:"note,omitempty"`
	Photos     []string  `json:"photos,omitempty"`
	TaskSeq    int       `json:"task_seq,omitempty"`
	Department string    `json:"department,omitempty"` // of the task, after the change
	WorkerID   string    `json:"worker_id,omitempty"`
	Deadline   time.Time `json:"deadline,omitzero"` // of the task, after the change
	Rating     Rating    `json:"rating,omitempty"`
	MergeInto  string    `json:"merge_into,omitempty"`
	EventID    string    `json:"event_id,omitempty"` // split: the report taken out
	// Escalated is set when this change raised the escalation level: an
	// escalate (督办), or a reopen that reached EscalateAfterReopens (提级督办).
	Escalated       bool `json:"escalated,omitempty"`
	EscalationLevel int  `json:"escalation_level,omitempty"`
}

// Errors that callers branch on with errors.Is. Every refusal wraps one of
// them, or is a *FieldError, and its message names the action, the state
// and the reason.
var (
	// ErrStale: the command's BaseVersion is not the case's Version. The
	// sender saw an older case; the API answers 409 and the client reloads.
	ErrStale = errors.New("stale")
	// ErrForbidden: this actor may not do this (wrong role, or a worker
	// acting on a task that is not theirs). The API answers 403.
	ErrForbidden = errors.New("forbidden")
	// ErrNotAllowed: the action is not possible in the case's state or at
	// the command's time (after the deadline, after the 退单 window). The
	// API answers 409.
	ErrNotAllowed = errors.New("not allowed")
)

// FieldError is a missing or invalid command field. The API answers 400
// (or 422) and names Field.
type FieldError struct {
	Field  string      // JSON name of the field, e.g. "department", "actor.id"
	Reason string      // plain words: "required", "must be after the current deadline …"
	Action Action      // the command's action
	State  event.State // the case's state
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("invalid %s: %s in state %s: %s", e.Field, e.Action, stateName(e.State), e.Reason)
}

func stateName(s event.State) string {
	if s == "" {
		return "(none)"
	}
	return string(s)
}
