// HTTP access to the citybrain API on the same origin.

import type { Incident, IncidentDetail, IncidentList, LayerCollection, LayerName } from './types'

/** An HTTP answer other than 2xx. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
    message: string,
    /** The answer's JSON body, when it had one. */
    readonly body: unknown = null,
    /** The Retry-After header in ms, when given in seconds. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

/**
 * How far the server's rebuild of the situation has come. After a restart with nothing to start
 * from (or a lost Redis in a cluster) the server replays its event log; meanwhile it takes reports
 * but answers reads with 503 {code: "restoring", progress: {done, total}}.
 */
export interface RestoreProgress {
  /** Records replayed and to replay; null when the server has not said yet. */
  done: number | null
  total: number | null
  /** Whole percent, or null when unknown. */
  percent: number | null
}

/** The rebuild's progress when err is the server saying it is restoring, else null. */
export function restoring(err: unknown): RestoreProgress | null {
  if (!(err instanceof HttpError) || err.status !== 503) return null
  const body = err.body as { code?: unknown; progress?: { done?: unknown; total?: unknown } } | null
  if (body?.code !== 'restoring') return null
  const num = (x: unknown): number | null => (typeof x === 'number' && Number.isFinite(x) && x >= 0 ? x : null)
  const done = num(body.progress?.done)
  const total = num(body.progress?.total)
  const percent = done === null || total === null ? null : total === 0 ? 100 : Math.min(100, Math.floor((done * 100) / total))
  return { done, total, percent }
}

/** One reading of a rebuild's progress, at a time on this client's clock (ms). */
export interface RestoreReading {
  done: number
  at: number
}

/**
 * Seconds left of a rebuild at the pace seen from reading a to reading b (the client's own clock,
 * so no skew with the server's), or null when it cannot be told yet: less than a second apart, or
 * nothing replayed in between.
 */
export function restoreSecondsLeft(a: RestoreReading, b: RestoreReading, total: number): number | null {
  const dt = (b.at - a.at) / 1000
  const rate = (b.done - a.done) / dt
  if (dt < 1 || !(rate > 0)) return null
  return Math.max(0, Math.ceil((total - b.done) / rate))
}

const TOKEN_KEY = 'citybrain.token'

/** Where the console keeps its token: sessionStorage, so it goes with the tab. */
export const SESSION_TOKEN_KEY = 'citybrain.session.token'

/**
 * The bearer token of a signed-in user, if any: the tab's session (the console's login) first, then
 * the browser's. The wall runs as an anonymous viewer in demo mode; a deployment that requires login
 * stores the token from /api/v1/auth/login under TOKEN_KEY in localStorage.
 */
export function authToken(): string | null {
  try {
    return sessionStorage.getItem(SESSION_TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

async function request<T>(method: string, url: string, timeoutMs = 15000, body?: unknown): Promise<T> {
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), timeoutMs)
  const headers: Record<string, string> = { Accept: 'application/json' }
  const token = authToken()
  if (token) headers.Authorization = `Bearer ${token}`
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  try {
    const res = await fetch(url, {
      method,
      headers,
      signal: ctrl.signal,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    if (!res.ok) {
      let msg = `${res.status} ${res.statusText}`
      let body: unknown = null
      try {
        body = await res.json()
        const b = body as { error?: string; message?: string } | null
        msg = b?.message ?? b?.error ?? msg
      } catch {
        // not JSON: keep the status line
      }
      const after = Number(res.headers.get('Retry-After') ?? '')
      throw new HttpError(res.status, url, msg, body, after > 0 && Number.isFinite(after) ? after * 1000 : null)
    }
    return (await res.json()) as T
  } finally {
    clearTimeout(timer)
  }
}

/** GET any JSON resource of the API (the caller checks the shape). */
export function getJSON<T>(url: string, timeoutMs = 15000): Promise<T> {
  return request<T>('GET', url, timeoutMs)
}

/** PUT/POST a JSON body to the API. */
export function sendJSON<T>(method: 'PUT' | 'POST', url: string, body: unknown, timeoutMs = 15000): Promise<T> {
  return request<T>(method, url, timeoutMs, body)
}

/** GET a GIS layer as a GeoJSON FeatureCollection (WGS-84). */
export async function fetchLayer(name: LayerName): Promise<LayerCollection> {
  const fc = await request<LayerCollection>('GET', `/api/v1/gis/layers/${encodeURIComponent(name)}`, 60000)
  if (!fc || fc.type !== 'FeatureCollection' || !Array.isArray(fc.features)) {
    throw new Error(`layer ${name}: not a FeatureCollection`)
  }
  return fc
}

/** GET the newest incidents. */
export async function fetchIncidents(limit = 500): Promise<Incident[]> {
  const list = await request<IncidentList>('GET', `/api/v1/incidents?limit=${limit}`)
  return Array.isArray(list?.items) ? list.items.filter(isIncident) : []
}

/** GET one incident with its timeline (runs of reports fused in folded by the server). */
export async function fetchIncident(id: string): Promise<IncidentDetail | null> {
  const inc = await request<IncidentDetail>('GET', `/api/v1/incidents/${encodeURIComponent(id)}?timeline=folded`)
  return isIncident(inc) ? inc : null
}

/** How the server signs people in (GET /api/v1/auth/info); null when it cannot be asked (offline). */
export async function fetchAuthInfo(): Promise<{ demoAccounts: boolean; anonymousViewer: boolean } | null> {
  try {
    const res = await request<{ demo_accounts?: unknown; anonymous_viewer?: unknown }>('GET', '/api/v1/auth/info', 5000)
    return { demoAccounts: res?.demo_accounts === true, anonymousViewer: res?.anonymous_viewer === true }
  } catch {
    return null
  }
}

/** POST for a short-lived websocket ticket (anonymous viewer in demo mode). */
export async function fetchWsTicket(): Promise<string> {
  const res = await request<{ ticket?: unknown }>('POST', '/api/v1/auth/ws-ticket', 10000)
  if (typeof res?.ticket !== 'string' || res.ticket === '') throw new Error('ws-ticket: no ticket in answer')
  return res.ticket
}

/** The websocket URL of a path on this origin. */
export function wsURL(path: string): string {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${proto}//${location.host}${path}`
}

/** Whether a value looks like an incident (has a string id). */
export function isIncident(v: unknown): v is Incident {
  return typeof v === 'object' && v !== null && typeof (v as { id?: unknown }).id === 'string'
}
