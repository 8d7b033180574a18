// The HTTP resources of the wall beyond incidents: KPI reports, trends, the wall mode (战时) and an
// incident's situation, with their wire types and a polling helper. Every field may be missing on
// the wire; the components guard each one.
import { onBeforeUnmount, onMounted, shallowRef, type ShallowRef } from 'vue'
import { getJSON, sendJSON } from '../lib/api'
import { num } from '../lib/format'
import type { Incident, TimelineEntry } from '../lib/types'

/** One row of GET /api/v1/stats/kpi (services/kpi.KPI): rates are 0…1 or null without data. */
export interface KpiRow {
  key?: string
  name?: string
  total?: number
  open?: number
  closed?: number
  overdue?: number
  on_time_sign?: number | null
  on_time_close?: number | null
  satisfaction?: number | null
  reopen_rate?: number | null
  mean_dispatch_s?: number | null
  mean_close_s?: number | null
}

export interface KpiReport {
  overall?: KpiRow
  by?: string
  groups?: KpiRow[]
}

export interface TrendBucket {
  start: string
  reported: number
  closed: number
}

export type TrendWindow = '24h' | '30d'

export interface WallMode {
  mode: 'normal' | 'emergency'
  incident_id?: string
  reason?: string
  by?: string
  auto?: boolean
  since?: string
}

export interface SituationResource {
  id?: string
  kind?: string
  name?: string
  lon?: number
  lat?: number
  distance_m?: number
  eta_s?: number
}

export interface SituationWorker extends SituationResource {
  assigned?: boolean
}

export interface SituationGrid {
  code?: string
  name?: string
  state?: string
  worker?: string
}

export interface Situation {
  incident?: Incident
  resources?: SituationResource[]
  workers?: SituationWorker[]
  grids?: SituationGrid[]
  timeline?: TimelineEntry[]
}

/** A worker's position from the `positions` delta. */
export interface WorkerPosition {
  id: string
  name?: string
  department?: string
  lon: number
  lat: number
  on_duty?: boolean
  at?: string
  task_id?: string
}

export function fetchKpi(by: '' | 'town' | 'department' = ''): Promise<KpiReport> {
  return getJSON<KpiReport>(`/api/v1/stats/kpi${by ? `?by=${by}` : ''}`)
}

/** GET /api/v1/stats/trend: buckets with finite counts only. */
export async function fetchTrend(window: TrendWindow): Promise<TrendBucket[]> {
  const r = await getJSON<{ buckets?: unknown }>(`/api/v1/stats/trend?window=${window}`)
  if (!Array.isArray(r?.buckets)) return []
  return r.buckets
    .map((b: { start?: unknown; reported?: unknown; closed?: unknown }) => ({
      start: typeof b?.start === 'string' ? b.start : '',
      reported: Math.max(0, num(b?.reported) ?? 0),
      closed: Math.max(0, num(b?.closed) ?? 0),
    }))
    .filter((b) => b.start !== '')
}

/** A mode object from the API or a delta, or null when it is not one. */
export function parseMode(v: unknown): WallMode | null {
  if (typeof v !== 'object' || v === null) return null
  const m = v as Record<string, unknown>
  if (m.mode !== 'normal' && m.mode !== 'emergency') return null
  return {
    mode: m.mode,
    incident_id: typeof m.incident_id === 'string' && m.incident_id !== '' ? m.incident_id : undefined,
    reason: typeof m.reason === 'string' ? m.reason : undefined,
    by: typeof m.by === 'string' ? m.by : undefined,
    auto: m.auto === true,
    since: typeof m.since === 'string' ? m.since : undefined,
  }
}

export async function fetchMode(): Promise<WallMode | null> {
  return parseMode(await getJSON<unknown>('/api/v1/wall/mode'))
}

export async function putMode(mode: 'normal' | 'emergency', incidentId?: string, reason?: string): Promise<WallMode | null> {
  return parseMode(await sendJSON<unknown>('PUT', '/api/v1/wall/mode', { mode, incident_id: incidentId ?? '', reason: reason ?? '' }))
}

export function fetchSituation(id: string): Promise<Situation> {
  return getJSON<Situation>(`/api/v1/incidents/${encodeURIComponent(id)}/situation?timeline=folded`)
}

/** Worker positions in a delta or snapshot, dropping malformed entries. */
export function parsePositions(v: unknown): WorkerPosition[] {
  if (!Array.isArray(v)) return []
  const out: WorkerPosition[] = []
  for (const w of v as Record<string, unknown>[]) {
    const lon = num(w?.lon)
    const lat = num(w?.lat)
    if (typeof w?.id !== 'string' || lon === null || lat === null || Math.abs(lon) > 180 || Math.abs(lat) > 90) continue
    if (lon === 0 && lat === 0) continue
    out.push({
      id: w.id,
      name: typeof w.name === 'string' ? w.name : undefined,
      department: typeof w.department === 'string' ? w.department : undefined,
      lon,
      lat,
      on_duty: w.on_duty !== false,
      at: typeof w.at === 'string' ? w.at : undefined,
      task_id: typeof w.task_id === 'string' && w.task_id !== '' ? w.task_id : undefined,
    })
  }
  return out
}

/** Delay before retrying a failed poll, ms. */
const RETRY_MS = 5000

export interface Poll<T> {
  data: ShallowRef<T | null>
  /** When the last successful answer arrived (ms), or null. */
  at: ShallowRef<number | null>
  error: ShallowRef<string | null>
  refresh: () => void
}

/**
 * Polls fn every intervalMs while the component is mounted (the KPI and trend figures have no
 * live value on the websocket). A failed poll keeps the last data; `at` shows how old it is.
 */
export function usePoll<T>(fn: () => Promise<T>, intervalMs: number): Poll<T> {
  const data = shallowRef<T | null>(null)
  const at = shallowRef<number | null>(null)
  const error = shallowRef<string | null>(null)
  let timer: ReturnType<typeof setInterval> | null = null
  let retry: ReturnType<typeof setTimeout> | null = null
  let busy = false
  const refresh = () => {
    if (busy) return
    busy = true
    fn()
      .then((v) => {
        data.value = v
        at.value = Date.now()
        error.value = null
      })
      .catch((err: unknown) => {
        error.value = err instanceof Error ? err.message : String(err)
        // A busy server may time out once: try again soon rather than a whole interval later.
        if (retry === null) retry = setTimeout(() => ((retry = null), refresh()), RETRY_MS)
      })
      .finally(() => (busy = false))
  }
  onMounted(() => {
    refresh()
    timer = setInterval(refresh, intervalMs)
  })
  onBeforeUnmount(() => {
    if (timer) clearInterval(timer)
    if (retry) clearTimeout(retry)
  })
  return { data, at, error, refresh }
}
