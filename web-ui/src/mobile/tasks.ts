// My tasks as the phone holds them: the incidents of the websocket `worker` channel (snapshot,
// then deltas), plus what the outbox still has to send for each (shown optimistically: the task
// moves to the state its queued action leads to, marked 待发送).

import { computed, reactive, ref } from 'vue'
import type { Incident } from '../lib/types'
import type { OutboxItem } from './outbox'

/** Worker actions and the state each leads to (services/casestate/doc.go). */
export const ACTION_TO: Record<string, string> = {
  accept: 'accepted',
  start: 'in_progress',
  request_extension: 'extension_requested',
  return: 'returned',
  handle: 'handled',
}

/** The worker's actions allowed in a state, for when the server cannot be asked (offline). */
export function offlineAllowed(state: string | undefined): string[] {
  switch (state) {
    case 'dispatched':
      return ['accept', 'return']
    case 'accepted':
      return ['start', 'request_extension', 'return']
    case 'in_progress':
      return ['handle', 'request_extension', 'return']
  }
  return []
}

/** The incident fields of a task the phone reads beyond the shared type. */
export type TaskIncident = Incident & { task?: (Incident['task'] & { worker_id?: string; return_by?: string }) | null }

export const incidents = reactive(new Map<string, TaskIncident>())
export const outboxItems = ref<OutboxItem[]>([])
/** Set while the first snapshot has not arrived. */
export const loaded = ref(false)

/**
 * The worker's pending actions (commands and reports), each with the photo uploads it waits for;
 * a photo no action names (its action was dismissed) is listed on its own.
 */
export const pendingActions = computed(() => {
  const photos = new Map(outboxItems.value.filter((i) => i.kind === 'photo').map((i) => [i.id, i]))
  const named = new Set<string>()
  const out: Array<{ item: OutboxItem; photos: OutboxItem[] }> = []
  for (const it of outboxItems.value) {
    if (it.kind === 'photo') continue
    const refs = Array.isArray(it.body?.photos) ? (it.body.photos as unknown[]) : []
    const mine = refs.map((r) => photos.get(String(r).replace('/api/v1/media/', ''))).filter((p): p is OutboxItem => !!p)
    mine.forEach((p) => named.add(p.id))
    out.push({ item: it, photos: mine })
  }
  for (const p of photos.values()) if (!named.has(p.id)) out.push({ item: p, photos: [] })
  return out.sort((a, b) => a.item.seq - b.item.seq)
})

/** Pending commands per incident, in order. */
export const queuedByIncident = computed(() => {
  const m = new Map<string, OutboxItem[]>()
  for (const it of outboxItems.value) {
    if (it.kind !== 'command' || !it.incidentId) continue
    const list = m.get(it.incidentId) ?? []
    list.push(it)
    m.set(it.incidentId, list)
  }
  return m
})

/** The state a task shows: the server's, or where its queued actions lead. */
export function shownState(inc: TaskIncident): string {
  const q = queuedByIncident.value.get(inc.id)?.filter((i) => i.state === 'pending')
  const last = q?.at(-1)
  return (last?.action && ACTION_TO[last.action]) || inc.state || ''
}

/** The version a new command for inc is based on: the known one plus one per queued command. */
export function baseVersion(inc: TaskIncident): number {
  const q = queuedByIncident.value.get(inc.id)?.filter((i) => i.state === 'pending').length ?? 0
  return (inc.version ?? 0) + q
}

const ACTIVE = new Set(['dispatched', 'accepted', 'in_progress', 'extension_requested', 'suspended', 'handled', 'returned'])

/** My tasks, most urgent deadline first; handled ones last. */
export const taskList = computed(() =>
  [...incidents.values()]
    .filter((i) => i.task && ACTIVE.has(i.state ?? ''))
    .sort((a, b) => {
      const da = a.state === 'handled' ? 1 : 0
      const db = b.state === 'handled' ? 1 : 0
      if (da !== db) return da - db
      return Date.parse(a.task?.deadline ?? '') - Date.parse(b.task?.deadline ?? '') || a.id.localeCompare(b.id)
    }),
)

/** Whether an incident is a new task for me (dispatched to me or my department, not yet signed). */
export function isNewTask(inc: TaskIncident, me: string): boolean {
  return !!inc.task && inc.state === 'dispatched' && (inc.task.worker_id === me || !inc.task.worker_id)
}

/**
 * Applies the channel's snapshot. Returns nothing: a snapshot is the state as it is, not news.
 */
export function applySnapshot(data: unknown): void {
  const list = (data as { incidents?: unknown })?.incidents
  incidents.clear()
  if (Array.isArray(list)) for (const inc of list) if (isInc(inc)) incidents.set(inc.id, inc)
  loaded.value = true
}

/** Applies one delta; returns the incident when it is a task newly dispatched to me. */
export function applyDelta(kind: string, data: unknown, me: string): TaskIncident | null {
  if (kind === 'remove') {
    const id = (data as { id?: unknown })?.id
    if (typeof id === 'string') incidents.delete(id)
    return null
  }
  if (kind !== 'incident' || !isInc(data)) return null
  const before = incidents.get(data.id)
  if (before && (before.version ?? 0) > (data.version ?? 0)) return null
  incidents.set(data.id, data)
  const wasNew = before ? isNewTask(before, me) && before.task?.id === data.task?.id : false
  return isNewTask(data, me) && !wasNew ? data : null
}

function isInc(v: unknown): v is TaskIncident {
  return typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string'
}

/** Milliseconds to the task's deadline (negative: overdue), or null. */
export function msLeft(inc: TaskIncident, now: number): number | null {
  const d = Date.parse(inc.task?.deadline ?? '')
  return Number.isFinite(d) ? d - now : null
}

/** "剩余 3小时12分" / "超时 20分" */
export function fmtCountdown(ms: number | null, zh = true): string {
  if (ms === null) return '—'
  const over = ms < 0
  let s = Math.floor(Math.abs(ms) / 1000)
  const d = Math.floor(s / 86400)
  s -= d * 86400
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  const body = zh
    ? d > 0
      ? `${d}天${h}小时`
      : h > 0
        ? `${h}小时${m}分`
        : `${m}分${String(sec).padStart(2, '0')}秒`
    : d > 0
      ? `${d}d ${h}h`
      : h > 0
        ? `${h}h ${m}m`
        : `${m}m ${String(sec).padStart(2, '0')}s`
  return zh ? (over ? `已超时 ${body}` : `剩余 ${body}`) : over ? `overdue ${body}` : `${body} left`
}
