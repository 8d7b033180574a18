// Package casestate is the case state machine of the dispatcher: it decides
// every state change of an incident (案件) and its current task (任务/工单),
// covering the 数字城管 seven stages (GB/T 30428, CJJ/T 106: 信息采集, 案卷建立,
// 任务派遣, 任务处理, 处理反馈, 核查结案, 综合评价) and the 12345 loop (受理, 调度,
// 办理, 回复, 督办, 办结, 回访, 评价).
//
// It does no I/O and reads no clock: the caller passes the case, the command
// and the command's time, and gets back the new case, the audit record
// (Transition) and, for a refusal, an error that says why in plain words.
// The dispatcher applies commands in the order of the commands topic (one
// partition per case) and publishes the Transitions on the tasks topic.
// Everything here is safe for concurrent use: there is no shared state.
//
//	next, tr, err := casestate.Decide(c, cmd)
//	audit(tr)            // applied or refused, every attempt is recorded
//	if err != nil { … }  // errors.Is ErrStale → 409, ErrForbidden → 403,
//	                     // ErrNotAllowed → 409, errors.As *FieldError → 400
//
// # Checks, in order
//
//  1. The command's shape: a known action, an actor id, a time (*FieldError).
//  2. The role (ErrForbidden). admin may do what a dispatcher may, viewer
//     nothing, and nobody but a worker does a worker's part. It comes before
//     the version because reloading would not help.
//  3. The version: cmd.BaseVersion must equal c.Version (ErrStale). This is
//     how two dispatchers assigning at once end with one winner and one 409,
//     and why a re-delivered command is never applied twice.
//  4. The state (ErrNotAllowed).
//  5. For a worker, the hold on the task (ErrForbidden): the task's named
//     worker, or, when only a department is named, a worker of that
//     department (who becomes the task's worker on 签收).
//  6. The time windows (ErrNotAllowed): 延期申请 only before the deadline,
//     退单 only until the task's ReturnBy.
//  7. The fields the action needs (*FieldError).
//
// # Transition table
//
// "open" is every state for which event.State.Open is true: received, filed,
// dispatched, accepted, in_progress, suspended, extension_requested,
// returned, handled, verified, reopened. "worker*" means a worker who holds
// the task (check 5). admin is in every row dispatcher is.
//
//	action             中文           from                             to                          roles                     fields
//	receive            接收           (new case, version 0)            received                    system                    case id
//	file               立案           received                         filed                       dispatcher admin          —
//	reject             不予立案/注销  received filed returned          rejected                    dispatcher admin          reason
//	dispatch           派遣           filed returned reopened          dispatched (task+1)         dispatcher admin          department, deadline > at; worker_id, return_by optional
//	auto_dispatch      自动派遣       received filed reopened          dispatched (task+1)         system                    as dispatch
//	reassign           改派           dispatched accepted in_progress  dispatched (task+1)         dispatcher admin          as dispatch + reason; a different department or worker
//	                                  suspended extension_requested
//	accept             签收           dispatched                       accepted                    worker*                   —
//	start              开始处置       accepted                         in_progress                 worker*                   —
//	suspend            挂账           accepted in_progress             suspended                   dispatcher admin          reason
//	resume             恢复           suspended                        (state before)              dispatcher admin worker*  deadline optional
//	request_extension  延期申请       accepted in_progress             extension_requested         worker*                   reason, deadline > current; before the deadline
//	grant_extension    同意延期       extension_requested              (state before)              dispatcher admin          deadline optional (default: the one requested), > current
//	deny_extension     驳回延期       extension_requested              (state before)              dispatcher admin          reason
//	return             退单           dispatched accepted in_progress  returned                    worker*                   reason; until return_by
//	handle             处理反馈       in_progress                      handled                     worker*                   note; photos optional
//	verify             核查通过       handled                          verified                    dispatcher admin          —
//	send_back          返工           handled                          dispatched (same task)      dispatcher admin          reason; deadline optional
//	close              结案           verified                         closed                      dispatcher admin          —
//	visit              回访           closed                           visited | rated | reopened  dispatcher admin system   rating optional
//	rate               评价           closed visited                   rated | reopened            dispatcher admin system   rating
//	merge              合并           open                             merged                      dispatcher admin          merge_into (not itself), reason
//	cancel             撤销           open                             closed                      dispatcher admin system   reason
//	escalate           督办           open                             (unchanged)                 dispatcher admin system   reason
//	split              拆分           open                             (unchanged)                 dispatcher admin          event_id, reason; the report becomes a new case
//
// Terminal states: rejected, rated, merged. closed waits for a 回访 or a
// rating; visited (回访 made, no rating given) waits for a rating.
//
// # Decisions
//
//   - reopened is a resting state, not a transient one: a dissatisfied
//     rating (不满意, 非常不满意) reopens the case (发回重办) and someone must
//     decide who redoes it and by when — a dispatcher (dispatch) or the
//     routing rule (auto_dispatch, which for 12345 sends it back to the same
//     承办单位). Both steps are in the audit trail. Each reopen increments
//     ReopenCount; the EscalateAfterReopens-th (3rd) and every later one
//     raises EscalationLevel and sets Transition.Escalated (提级督办).
//   - 核查 fails with send_back (返工): the case goes back to dispatched with
//     the same task, department and worker; the worker signs for it again.
//     ReworkCount counts these. AcceptedAt keeps the first 签收.
//   - A task is an assignment with a deadline: dispatch, auto_dispatch and
//     reassign each start a new one (TaskSeq+1, event.TaskIDFor); a 返工
//     continues it.
//   - The task clock runs from dispatch to 处理反馈/退单/merge/cancel. 挂账 and
//     the wait for 核查 before a 返工 are not counted against the
//     department: the deadline moves by that time unless the restarting
//     command (resume, send_back) gives a deadline computed by the caller
//     in working time. Hence Overtime > 1 exactly when the task ended, or is
//     still running, after its deadline. The clock keeps running while an
//     extension is being decided; 延期 moves the deadline only when granted.
//   - 好差评 levels are 1 (非常不满意) … 5 (非常满意), higher is better; 0 is
//     none. visit with a rating is 回访 and 评价 in one step.
//   - cancel (撤销) closes an open case whose cause went away, e.g. a CAP
//     Cancel of a warning (issue 5); it needs a reason and sets ClosedAt.
//   - auto_dispatch from received files the case (自动立案) in the same
//     step, as the dispatcher's routing rule does today.
//   - escalate (督办) changes no state but is a transition: it takes a
//     version, raises EscalationLevel and is in the audit trail. The SLA
//     timer sends it as system.
//   - 挂账 is a command-center decision (dispatcher), not the worker's; the
//     worker who holds the task may resume it.
//   - 核查 and 结案 are dispatcher decisions; an on-site 核查 by a 监督员 is a
//     report the dispatcher acts on.
//   - A dispatcher's jurisdiction (which towns) is checked by the caller;
//     this package checks roles and a worker's hold on the task.
package casestate
