// The dispatcher's commands (services/casestate/doc.go): which fields each dialog asks for, which are
// required, the checks made before anything is sent, and the JSON body of the request.

export type FieldName = 'department' | 'worker_id' | 'deadline' | 'reason' | 'note' | 'rating' | 'merge_into' | 'event_id' | 'other_id'

export interface FieldSpec {
  name: FieldName
  required: boolean
}

/** `merge_in` is the console's own: merge ANOTHER incident into this one (a `merge` posted on the other). */
export type ConsoleAction = string

const f = (name: FieldName, required = true): FieldSpec => ({ name, required })

/** The fields of each action's dialog, as the state machine's table asks for them. */
export const ACTION_FIELDS: Record<string, FieldSpec[]> = {
  file: [f('note', false)],
  reject: [f('reason')],
  dispatch: [f('department'), f('worker_id', false), f('deadline', false)],
  reassign: [f('department'), f('worker_id', false), f('deadline', false), f('reason')],
  escalate: [f('reason')],
  suspend: [f('reason')],
  resume: [f('deadline', false)],
  grant_extension: [f('deadline', false)],
  deny_extension: [f('reason')],
  verify: [f('note', false)],
  send_back: [f('reason'), f('deadline', false)],
  close: [f('note', false)],
  visit: [f('rating', false), f('note', false)],
  rate: [f('rating')],
  merge: [f('merge_into'), f('reason')],
  merge_in: [f('other_id'), f('reason')],
  cancel: [f('reason')],
  split: [f('event_id'), f('reason')],
}

/** The order of the action buttons (the most frequent decisions first). */
export const ACTION_ORDER = ['file', 'dispatch', 'reassign', 'verify', 'send_back', 'close', 'visit', 'rate', 'grant_extension', 'deny_extension', 'suspend', 'resume', 'escalate', 'reject', 'merge', 'merge_in', 'split', 'cancel']

/** Fields of an action; an unknown action asks for an optional reason. */
export function fieldsFor(action: string): FieldSpec[] {
  return ACTION_FIELDS[action] ?? [f('reason', false)]
}

/** Actions that ask for a confirmation only (no required field): shown with a lighter dialog. */
export function isSimple(action: string): boolean {
  return fieldsFor(action).every((x) => !x.required)
}

/** The buttons to show, in a stable order: the allowed actions, plus merge_in whenever merge is allowed. */
export function buttonsFor(allowed: readonly string[]): string[] {
  const set = new Set(allowed)
  if (set.has('merge')) set.add('merge_in')
  const known = ACTION_ORDER.filter((a) => set.has(a))
  const other = [...set].filter((a) => !ACTION_ORDER.includes(a)).sort()
  return [...known, ...other]
}

export type FormValues = Partial<Record<FieldName, string>>

/** What the dialog knows about the incident when checking a form. */
export interface FormContext {
  incidentId: string
  now: number
  /** The current task's department and worker, for 改派's "something must change". */
  department?: string
  workerId?: string
  /** Ids of the reports fused into this incident (for 拆分). */
  eventIds?: readonly string[]
}

export type FieldErrors = Partial<Record<FieldName, string>>

/** Error message keys (the dialog translates them). */
export type ErrorKey = 'required' | 'past' | 'badTime' | 'self' | 'rating' | 'sameAssignee' | 'unknownReport' | 'tooLong' | 'badId'

const ID_RE = /^[A-Za-z0-9_.:-]{1,100}$/

/** Parses a datetime-local value (local time) or RFC 3339; null when empty or invalid. */
export function parseDeadline(v: string | undefined): number | null {
  if (!v || !v.trim()) return null
  const ms = Date.parse(v.trim())
  return Number.isFinite(ms) ? ms : null
}

/** Checks a form before sending; returns the errors per field (empty when it may be sent). */
export function validate(action: string, values: FormValues, ctx: FormContext): Partial<Record<FieldName, ErrorKey>> {
  const errs: Partial<Record<FieldName, ErrorKey>> = {}
  for (const spec of fieldsFor(action)) {
    const v = (values[spec.name] ?? '').trim()
    if (!v) {
      if (spec.required) errs[spec.name] = 'required'
      continue
    }
    if (v.length > 1000) errs[spec.name] = 'tooLong'
    switch (spec.name) {
      case 'deadline': {
        const ms = parseDeadline(v)
        if (ms === null) errs.deadline = 'badTime'
        else if (ms <= ctx.now) errs.deadline = 'past'
        break
      }
      case 'rating':
        if (!/^[1-5]$/.test(v)) errs.rating = 'rating'
        break
      case 'merge_into':
      case 'other_id':
        if (!ID_RE.test(v)) errs[spec.name] = 'badId'
        else if (v === ctx.incidentId) errs[spec.name] = 'self'
        break
      case 'event_id':
        if (ctx.eventIds && !ctx.eventIds.includes(v)) errs.event_id = 'unknownReport'
        break
      case 'worker_id':
        if (!ID_RE.test(v)) errs.worker_id = 'badId'
        break
    }
  }
  if (action === 'reassign' && !errs.department && !errs.worker_id) {
    const dept = (values.department ?? '').trim()
    const worker = (values.worker_id ?? '').trim()
    if (dept === (ctx.department ?? '') && worker === (ctx.workerId ?? '')) errs.worker_id = 'sameAssignee'
  }
  return errs
}

/**
 * The request for an action: the path's incident (the other one for merge_in), the action posted
 * and the JSON body with `base_version`. Empty optional fields are left out.
 */
export function buildRequest(action: string, values: FormValues, incidentId: string, baseVersion: number): { target: string; action: string; body: Record<string, unknown> } {
  const body: Record<string, unknown> = { base_version: baseVersion }
  let target = incidentId
  let posted = action
  for (const spec of fieldsFor(action)) {
    const v = (values[spec.name] ?? '').trim()
    if (!v) continue
    switch (spec.name) {
      case 'deadline': {
        const ms = parseDeadline(v)
        if (ms !== null) body.deadline = new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
        break
      }
      case 'rating':
        body.rating = Number(v)
        break
      case 'other_id':
        target = v
        break
      default:
        body[spec.name] = v
    }
  }
  if (action === 'merge_in') {
    posted = 'merge'
    body.merge_into = incidentId
  }
  return { target, action: posted, body }
}

/** A fresh Idempotency-Key: one per dialog, so a retried submit is the same command. */
export function newIdempotencyKey(): string {
  const c = globalThis.crypto
  if (c && typeof c.randomUUID === 'function') return c.randomUUID()
  return `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
}
