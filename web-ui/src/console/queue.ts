// The dispatcher's queue, as pure functions: the filters, the deadline countdown and its colour,
// the order, and applying the `dispatcher` channel's snapshot and deltas to a map of incidents.

import { parseTime } from '../lib/format'
import type { Incident } from '../lib/types'

/** The incident as the console reads it: the task may name a worker. */
export interface QueueIncident extends Incident {
  task?: (Incident['task'] & { worker_id?: string }) | null
  event_ids?: string[]
}

export interface QueueFilter {
  source: string
  category: string
  town: string
  /** '' = every incident held; 'open' = not yet closed; else one case state. */
  state: string
  overdue: boolean
  text: string
}

export const EMPTY_FILTER: QueueFilter = { source: '', category: '', town: '', state: '', overdue: false, text: '' }

/** States in which nothing more is asked of anyone (terminal, or done short of the 回访). */
const FINISHED = new Set(['rejected', 'rated', 'merged'])
/** States at or after 结案. */
const CLOSED = new Set(['closed', 'visited', 'rated', 'merged', 'rejected'])

export function isClosedState(s: unknown): boolean {
  return typeof s === 'string' && CLOSED.has(s)
}

/** Whether the incident's task is past its deadline (only while the case is open). */
export function isOverdue(inc: QueueIncident, now: number): boolean {
  const d = parseTime(inc.task?.deadline)
  return d !== null && !isClosedState(inc.state) && now > d
}

/** Lower-case text the search matches: id, title, address, description, category and place names. */
export function searchText(inc: QueueIncident): string {
  const p = inc.place
  return [inc.id, inc.title, inc.address, inc.description, inc.category_name, inc.category, p?.town?.name, p?.village?.name, p?.grid?.name, inc.task?.department, inc.task?.worker_id]
    .filter((s): s is string => typeof s === 'string' && s !== '')
    .join(' ')
    .toLowerCase()
}

/** Whether an incident passes the filter. `text` matches every whitespace-separated word. */
export function matches(inc: QueueIncident, f: QueueFilter, now: number): boolean {
  if (f.source && !(inc.source === f.source || (inc.sources?.[f.source] ?? 0) > 0)) return false
  if (f.category && inc.category !== f.category) return false
  if (f.town && inc.place?.town?.code !== f.town) return false
  if (f.state === 'open') {
    if (isClosedState(inc.state)) return false
  } else if (f.state && inc.state !== f.state) return false
  if (f.overdue && !isOverdue(inc, now)) return false
  const words = f.text.trim().toLowerCase().split(/\s+/).filter(Boolean)
  if (words.length) {
    const hay = searchText(inc)
    if (!words.every((w) => hay.includes(w))) return false
  }
  return true
}

export type Urgency = 'none' | 'ok' | 'warn' | 'over'

/** Two hours: a deadline closer than this is amber whatever the allowed time was. */
export const WARN_ABSOLUTE_MS = 2 * 3600 * 1000
/** A deadline with less than this share of its allowed time left is amber. */
export const WARN_SHARE = 0.25

/**
 * The colour of a deadline countdown: 'over' (red) past the deadline, 'warn' (amber) when less than
 * 25 % of the time from `startMs` to the deadline, or less than 2 h, is left, else 'ok'; 'none'
 * without a deadline or for a closed case.
 */
export function urgency(deadline: unknown, startMs: number | null, now: number, state?: string): Urgency {
  const d = parseTime(deadline)
  if (d === null || isClosedState(state)) return 'none'
  const left = d - now
  if (left <= 0) return 'over'
  if (left < WARN_ABSOLUTE_MS) return 'warn'
  if (startMs !== null && d > startMs && left < WARN_SHARE * (d - startMs)) return 'warn'
  return 'ok'
}

/** "2d 3h" (units as given, e.g. 天/时) / "3:05:09" / "-0:12:30" (overdue) until a deadline; '' without one. */
export function countdown(deadline: unknown, now: number, units: { d: string; h: string } = { d: 'd ', h: 'h' }): string {
  const d = parseTime(deadline)
  if (d === null) return ''
  const ms = d - now
  const neg = ms < 0
  const s = Math.floor(Math.abs(ms) / 1000)
  const days = Math.floor(s / 86400)
  const h = Math.floor((s % 86400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  const pad = (n: number) => String(n).padStart(2, '0')
  const body = days > 0 ? `${days}${units.d}${h}${units.h}` : `${h}:${pad(m)}:${pad(sec)}`
  return neg ? `-${body}` : body
}

/** Queue order: overdue first, then severity (Ⅰ first), then the nearest deadline, then the newest. */
export function compareQueue(a: QueueIncident, b: QueueIncident, now: number): number {
  const oa = isOverdue(a, now) ? 0 : 1
  const ob = isOverdue(b, now) ? 0 : 1
  if (oa !== ob) return oa - ob
  const sa = a.severity ?? 4
  const sb = b.severity ?? 4
  if (sa !== sb) return sa - sb
  const da = parseTime(a.task?.deadline) ?? Infinity
  const db = parseTime(b.task?.deadline) ?? Infinity
  if (da !== db) return da < db ? -1 : 1
  const fa = parseTime(a.first_seen) ?? 0
  const fb = parseTime(b.first_seen) ?? 0
  if (fa !== fb) return fb - fa
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** Whether `v` looks like an incident. */
export function isQueueIncident(v: unknown): v is QueueIncident {
  return typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string' && (v as { id: string }).id !== ''
}

/** The incidents of a `dispatcher` snapshot (`{incidents: [...]}`); malformed entries are skipped. */
export function snapshotIncidents(data: unknown): QueueIncident[] {
  const list = (data as { incidents?: unknown } | null)?.incidents
  return Array.isArray(list) ? list.filter(isQueueIncident) : []
}

export type DeltaEffect = { kind: 'upsert'; incident: QueueIncident; isNew: boolean } | { kind: 'remove'; id: string } | { kind: 'ignore' }

/**
 * What a delta does to the queue held in `items`: an `incident` replaces by id unless it is older
 * than what is held; a `remove` drops it (unless what is held is newer than the removal); anything
 * else is ignored. Applies the change to `items` and says what it was.
 */
export function applyDelta(items: Map<string, QueueIncident>, kind: string, data: unknown): DeltaEffect {
  if (kind === 'incident' && isQueueIncident(data)) {
    const held = items.get(data.id)
    if (held && (held.version ?? 0) > (data.version ?? 0)) return { kind: 'ignore' }
    items.set(data.id, data)
    return { kind: 'upsert', incident: data, isNew: !held }
  }
  if (kind === 'remove' && typeof data === 'object' && data !== null) {
    const { id, version } = data as { id?: unknown; version?: unknown }
    if (typeof id !== 'string') return { kind: 'ignore' }
    const held = items.get(id)
    if (!held) return { kind: 'ignore' }
    if (typeof version === 'number' && (held.version ?? 0) > version) return { kind: 'ignore' }
    items.delete(id)
    return { kind: 'remove', id }
  }
  return { kind: 'ignore' }
}

/** Whether a new arrival deserves the sound: severity Ⅰ or Ⅱ and not yet closed. */
export function wantsAlarm(inc: QueueIncident): boolean {
  return (inc.severity === 1 || inc.severity === 2) && !isClosedState(inc.state) && !FINISHED.has(inc.state ?? '')
}

/** The options of a filter select, from the incidents held: value → label, sorted by label. */
export function optionsOf(items: Iterable<QueueIncident>, pick: (i: QueueIncident) => [string | undefined, string | undefined]): { value: string; label: string }[] {
  const seen = new Map<string, string>()
  for (const inc of items) {
    const [v, l] = pick(inc)
    if (v && !seen.has(v)) seen.set(v, l || v)
  }
  return [...seen].map(([value, label]) => ({ value, label })).sort((a, b) => a.label.localeCompare(b.label, 'zh-CN'))
}
