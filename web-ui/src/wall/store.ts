// The wall's live state: incidents by id and the KPI block, fed by the "wall" realtime channel
// (snapshot, then deltas) and, until the first snapshot arrives, by one REST page of incidents.
//
// Incidents are kept outside Vue's deep reactivity (thousands of objects replaced many times a
// second would make every access a proxy hop); a revision counter tells components to recompute.

import { shallowRef, triggerRef, type ShallowRef } from 'vue'
import { isIncident } from '../lib/api'
import { isOpen, num, parseTime } from '../lib/format'
import type { ChannelHandler } from '../lib/realtime'
import type { Incident, Source, WallStats } from '../lib/types'
import { SOURCES } from '../lib/types'
import { parseMode, parsePositions, type WallMode, type WorkerPosition } from './wallApi'

/** How far past the cap the store may grow before it trims (amortises the sort). */
export const EVICT_SLACK = 250

/** How long deltas are gathered before views recompute, ms. */
export const DELTA_BATCH_MS = 200

/** The most incidents the wall holds; beyond it the oldest closed ones (then the oldest) go. */
export const MAX_INCIDENTS = 5000

/**
 * How long a closed incident stays on the live wall (dimmed) after its last change, ms. Past it, it
 * leaves, so a wall that has run all day shows what one opened now shows (the snapshot holds open
 * incidents only), and the map does not fill with the day's finished cases.
 */
export const CLOSED_KEEP_MS = 30 * 60 * 1000

/** How often the closed ones are looked for, at most, ms. */
const SWEEP_EVERY_MS = 60 * 1000

export interface WallStoreOptions {
  /** CLOSED_KEEP_MS by default; Infinity keeps them (playback shows a period as it was). */
  closedKeepMs?: number
  /** The clock (tests). */
  now?: () => number
}

export type ArrivalListener = (inc: Incident) => void

export interface WallStore {
  /** Incidents by id. Read after touching `revision.value` to stay reactive. */
  readonly incidents: Map<string, Incident>
  /** Bumps whenever `incidents` changes. */
  readonly revision: ShallowRef<number>
  readonly stats: ShallowRef<WallStats | null>
  /** Whether the state comes from a current realtime snapshot (REST data is then ignored). */
  readonly live: ShallowRef<boolean>
  /** The wall mode (战时) from the snapshot and `mode` deltas; null until known. */
  readonly mode: ShallowRef<WallMode | null>
  /** On-duty workers' latest positions by id (the `positions` deltas). */
  readonly workers: Map<string, WorkerPosition>
  /** Bumps whenever `workers` changes. */
  readonly workersRevision: ShallowRef<number>
  /** Called for incidents seen for the first time after the initial load. */
  onArrival(fn: ArrivalListener): () => void
  /** Seeds from a REST page while the websocket is not there yet. */
  seed(items: Incident[]): void
  /** Applies one incident fetched by id (newer versions win; no arrival pulse). */
  merge(inc: Incident): void
  /** The realtime channel handler. */
  readonly channel: ChannelHandler
}

/** Normalised stats: every count a finite non-negative integer or absent. */
export function normaliseStats(v: unknown): WallStats | null {
  if (typeof v !== 'object' || v === null) return null
  const s = v as Record<string, unknown>
  const count = (x: unknown): number | undefined => {
    const n = num(x)
    return n === null || n < 0 ? undefined : Math.round(n)
  }
  const today: Partial<Record<Source, number>> = {}
  if (typeof s.today === 'object' && s.today !== null) {
    const t = s.today as Record<string, unknown>
    for (const src of SOURCES) {
      const n = count(t[src])
      if (n !== undefined) today[src] = n
    }
  }
  const out: WallStats = { today }
  if (typeof s.states === 'object' && s.states !== null) {
    const states: Record<string, number> = {}
    for (const [k, v] of Object.entries(s.states as Record<string, unknown>)) {
      const n = count(v)
      if (n !== undefined && n > 0) states[k] = n
    }
    out.states = states
  }
  const open = count(s.open)
  const closed = count(s.closed)
  const total = count(s.total)
  if (open !== undefined) out.open = open
  if (closed !== undefined) out.closed = closed
  if (total !== undefined) out.total = total
  return out
}

function versionOf(inc: Incident): number {
  return num(inc.version) ?? 0
}

export function createWallStore(opts: WallStoreOptions = {}): WallStore {
  const closedKeepMs = opts.closedKeepMs ?? CLOSED_KEEP_MS
  const now = opts.now ?? Date.now
  const incidents = new Map<string, Incident>()
  const revision = shallowRef(0)
  const stats = shallowRef<WallStats | null>(null)
  const live = shallowRef(false)
  const listeners = new Set<ArrivalListener>()
  const mode = shallowRef<WallMode | null>(null)
  const workers = new Map<string, WorkerPosition>()
  const workersRevision = shallowRef(0)

  /** Applies positions; a full set replaces the map (workers off duty drop out). */
  const applyPositions = (list: WorkerPosition[], full: boolean, removed: unknown = undefined) => {
    if (full) workers.clear()
    if (Array.isArray(removed)) for (const id of removed) if (typeof id === 'string') workers.delete(id)
    for (const w of list) {
      if (w.on_duty === false) workers.delete(w.id)
      else workers.set(w.id, w)
    }
    workersRevision.value++
  }

  /** Drops closed incidents whose last change is older than closedKeepMs (at most once a minute). */
  let lastSweep = 0
  const sweep = () => {
    const t = now()
    if (!Number.isFinite(closedKeepMs) || t - lastSweep < SWEEP_EVERY_MS) return
    lastSweep = t
    for (const inc of incidents.values()) {
      if (isOpen(inc)) continue
      const at = parseTime(inc.updated_at ?? inc.last_seen)
      if (at !== null && t - at > closedKeepMs) incidents.delete(inc.id)
    }
  }

  const bump = () => {
    sweep()
    if (bumpTimer) clearTimeout(bumpTimer)
    bumpTimer = null
    revision.value++
    triggerRef(revision)
  }
  // Deltas can arrive by the hundred per second in a storm: views recompute at most 5 times a second.
  let bumpTimer: ReturnType<typeof setTimeout> | null = null
  const bumpSoon = () => {
    if (!bumpTimer) bumpTimer = setTimeout(bump, DELTA_BATCH_MS)
  }

  /** Inserts or replaces by id unless the held copy is newer. Returns true for a new id. */
  const put = (inc: Incident): boolean => {
    const old = incidents.get(inc.id)
    if (old && versionOf(old) > versionOf(inc)) return false
    incidents.set(inc.id, Object.freeze(inc))
    return !old
  }

  /**
   * Trims to MAX_INCIDENTS, closed ones first, then the least recently updated. Runs only when the
   * cap is exceeded by EVICT_SLACK, so a steady stream of new incidents costs one sort per
   * EVICT_SLACK arrivals rather than one per arrival.
   */
  const evict = (force = false) => {
    if (incidents.size <= MAX_INCIDENTS || (!force && incidents.size <= MAX_INCIDENTS + EVICT_SLACK)) return
    const keyed = [...incidents.values()].map((inc) => ({
      id: inc.id,
      open: isOpen(inc) ? 1 : 0,
      t: parseTime(inc.updated_at ?? inc.last_seen) ?? 0,
    }))
    keyed.sort((a, b) => a.open - b.open || a.t - b.t)
    for (const k of keyed.slice(0, incidents.size - MAX_INCIDENTS)) incidents.delete(k.id)
  }

  const channel: ChannelHandler = {
    onSnapshot(data) {
      const d = (typeof data === 'object' && data !== null ? data : {}) as {
        incidents?: unknown
        stats?: unknown
        mode?: unknown
        workers?: unknown
      }
      incidents.clear()
      if (Array.isArray(d.incidents)) for (const inc of d.incidents) if (isIncident(inc)) put(inc)
      evict(true)
      const st = normaliseStats(d.stats)
      if (st) stats.value = st
      const m = parseMode(d.mode)
      if (m) mode.value = m
      if (Array.isArray(d.workers)) applyPositions(parsePositions(d.workers), true)
      live.value = true
      bump()
    },
    onDelta(kind, data) {
      if (kind === 'incident') {
        if (!isIncident(data)) return
        const isNew = put(data)
        if (isNew) evict()
        bumpSoon()
        if (isNew) for (const fn of listeners) fn(data)
      } else if (kind === 'remove') {
        // The incident left this channel's scope (console and mobile channels; harmless here).
        const r = data as { id?: unknown; version?: unknown } | null
        const old = typeof r?.id === 'string' ? incidents.get(r.id) : undefined
        if (old && versionOf(old) <= (num(r?.version) ?? Infinity)) {
          incidents.delete(old.id)
          bumpSoon()
        }
      } else if (kind === 'stats') {
        const st = normaliseStats(data)
        if (st) stats.value = st
      } else if (kind === 'mode') {
        const m = parseMode(data)
        if (m) mode.value = m
      } else if (kind === 'positions') {
        const d = data as { workers?: unknown; full?: unknown; removed?: unknown } | null
        applyPositions(parsePositions(d?.workers), d?.full === true, d?.removed)
      }
    },
    onReload() {
      // The snapshot that follows replaces everything; until it is here the wall keeps showing
      // the last state (marked not live) rather than going blank in front of an audience.
      live.value = false
    },
  }

  return {
    incidents,
    revision,
    stats,
    live,
    mode,
    workers,
    workersRevision,
    channel,
    onArrival(fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    merge(inc) {
      put(inc)
      bump()
    },
    seed(items) {
      if (live.value) return
      for (const inc of items) put(inc)
      evict(true)
      bump()
    },
  }
}
