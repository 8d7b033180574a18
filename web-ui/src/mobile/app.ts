// The phone app's moving parts, wired once: the outbox and its sender, the realtime `worker`
// channel, new-task notifications, on-duty position reporting and the service worker. The views
// (*.vue) read the reactive state exported here and call its functions.

import { ref } from 'vue'
import { fetchWsTicket, wsURL } from '../lib/api'
import { Realtime, type ConnStatus } from '../lib/realtime'
import { shortTitle } from '../lib/format'
import { IdbStorage, hasIndexedDB } from './idb'
import { sendItem, postJSON } from './http'
import { tm } from './messages'
import { MemoryStorage, Outbox, clientId, type OutboxItem, type Verdict, type SendResult } from './outbox'
import { mediaURL, type Photo } from './photo'
import { startDuty, type Fix, type Reporter } from './position'
import { checkExpiry, logout, profile } from './session'
import { ACTION_TO, applyDelta, applySnapshot, baseVersion, incidents, loaded, outboxItems, type TaskIncident } from './tasks'

export const online = ref(typeof navigator === 'undefined' ? true : navigator.onLine)
export const conn = ref<ConnStatus | null>(null)
/** The in-app banner: a new task (with its id) or a message. */
export const toast = ref<{ text: string; taskId?: string; kind: 'task' | 'info' | 'error' } | null>(null)
export const onDuty = ref(false)
export const myFix = ref<Fix | null>(null)
export const dutyError = ref('')
/** Set when a 401 sent the worker back to login. */
export const sessionExpired = ref(false)

let toastTimer: ReturnType<typeof setTimeout> | null = null
export function showToast(t: NonNullable<typeof toast.value>, ms = 8000): void {
  toast.value = t
  if (toastTimer) clearTimeout(toastTimer)
  toastTimer = setTimeout(() => (toast.value = null), ms)
}

// ---- outbox ------------------------------------------------------------------------------------

export const outbox = new Outbox({
  storage: hasIndexedDB() ? new IdbStorage() : new MemoryStorage(),
  transport: sendItem,
  onChange: (items) => (outboxItems.value = items),
  onResult: onItemResult,
})

function itemLabel(it: OutboxItem): string {
  return it.label
}

function onItemResult(item: OutboxItem, verdict: Verdict, res: SendResult): void {
  if (verdict === 'refused') {
    showToast({ kind: 'error', text: tm('outbox.refused', { label: itemLabel(item), err: res.error ?? `HTTP ${res.status}` }) }, 12000)
  }
  // The answer of a command carries the incident after it: show it without waiting for the socket.
  const inc = (res.body as { incident?: TaskIncident } | undefined)?.incident
  if (verdict === 'done' && inc && typeof inc.id === 'string' && profile.value) applyDelta('incident', inc, profile.value.sub)
}

let drainTimer: ReturnType<typeof setTimeout> | null = null

/** Sends what is due; schedules the next try of a waiting item. */
export async function flush(): Promise<void> {
  if (!profile.value) return
  if (!navigator.onLine) {
    online.value = false
    return
  }
  const sum = await outbox.drain()
  if (sum.unauthorized) {
    expire()
    return
  }
  if (drainTimer) clearTimeout(drainTimer)
  drainTimer = null
  if (sum.nextAt !== null) drainTimer = setTimeout(() => void flush(), Math.max(500, sum.nextAt - Date.now()))
}

/** The worker tapped 重试, or the phone came back online. */
export async function retryNow(): Promise<void> {
  await outbox.wake()
  await flush()
}

/** Queues a task command (with its photos first) and tries to send it. */
export async function queueCommand(inc: TaskIncident, action: string, fields: Record<string, unknown>, photos: Photo[] = []): Promise<void> {
  for (const p of photos) {
    await outbox.add({ id: p.id, kind: 'photo', label: `${tm('outbox.photo')} · ${shortTitle(inc)}`, blob: p.blob })
  }
  const body: Record<string, unknown> = { ...fields, base_version: baseVersion(inc) }
  if (photos.length) body.photos = photos.map((p) => mediaURL(p.id))
  await outbox.add({
    id: clientId(),
    kind: 'command',
    label: `${tm(`action.${action}` as Parameters<typeof tm>[0])} · ${shortTitle(inc)}`,
    incidentId: inc.id,
    action,
    body,
  })
  void flush()
}

/** Queues a grid report (docs/intake.md, source grid) with its photos. */
export async function queueReport(fields: { category: string; description: string; lon: number; lat: number; label: string }, photos: Photo[]): Promise<void> {
  const p = profile.value
  if (!p) return
  for (const ph of photos) await outbox.add({ id: ph.id, kind: 'photo', label: `${tm('outbox.photo')} · ${fields.label}`, blob: ph.blob })
  const id = clientId()
  await outbox.add({
    id,
    kind: 'report',
    label: `${tm('outbox.report')} · ${fields.label}`,
    body: {
      report_id: `M-${id}`,
      worker_id: p.sub,
      category: fields.category,
      description: fields.description,
      lon: fields.lon,
      lat: fields.lat,
      crs: 'wgs84',
      ...(p.scope ? { grid_code: p.scope } : {}),
      photos: photos.map((ph) => mediaURL(ph.id)),
      reported_at: new Date().toISOString(),
    },
  })
  void flush()
}

export { ACTION_TO }

// ---- realtime ----------------------------------------------------------------------------------

let rt: Realtime | null = null

function startRealtime(): void {
  if (rt) return
  rt = new Realtime({
    ticket: async () => {
      try {
        return await fetchWsTicket()
      } catch (e) {
        if ((e as { status?: number }).status === 401) expire()
        throw e
      }
    },
    open: (protocols) => new WebSocket(wsURL('/ws'), protocols),
    onStatus: (s) => (conn.value = s),
  })
  rt.subscribe('worker', {
    onSnapshot: (data) => applySnapshot(data),
    onDelta: (kind, data) => {
      const me = profile.value?.sub ?? ''
      const fresh = applyDelta(kind, data, me)
      if (fresh) announce(fresh)
    },
    onReload: () => {
      incidents.clear()
      loaded.value = false
    },
  })
  rt.start()
}

/** A new task: the in-app banner, and a system notification when allowed. */
function announce(inc: TaskIncident): void {
  const title = shortTitle(inc)
  showToast({ kind: 'task', text: tm('toast.new', { title }), taskId: inc.id }, 15000)
  if (typeof Notification === 'undefined' || Notification.permission !== 'granted') return
  const opts: NotificationOptions = { body: `${title}\n${inc.address ?? ''}`, tag: inc.id, icon: '/m/icon-192.png', data: { url: `/m/task/${inc.id}` } }
  // Through the service worker where there is one (Android Chrome allows no other way).
  void navigator.serviceWorker
    ?.getRegistration('/m/')
    .then(async (reg) => {
      if (reg) await reg.showNotification(tm('notify.title'), opts)
      else new Notification(tm('notify.title'), opts)
    })
    .catch(() => undefined)
}

/** Asks for notification permission (from a tap: browsers refuse it otherwise). */
export function askNotifications(): void {
  if (typeof Notification !== 'undefined' && Notification.permission === 'default') void Notification.requestPermission()
}

// ---- duty --------------------------------------------------------------------------------------

let reporter: Reporter | null = null

export function setDuty(on: boolean): void {
  dutyError.value = ''
  if (!on) {
    reporter?.stop()
    reporter = null
    onDuty.value = false
    void postPosition(myFix.value, false)
    return
  }
  if (!confirm(tm('duty.ask'))) return
  onDuty.value = true
  askNotifications()
  reporter = startDuty(
    (f) => (myFix.value = f),
    (f) => void postPosition(f, true),
    (msg) => {
      dutyError.value = `${tm('duty.denied')}（${msg}）`
      reporter?.stop()
      reporter = null
      onDuty.value = false
    },
  )
}

async function postPosition(f: Fix | null, on: boolean): Promise<void> {
  if (!f || !navigator.onLine) return // a position is only worth sending now; no outbox for it
  const res = await postJSON('/api/v1/workers/position', { lon: f.lon, lat: f.lat, crs: 'wgs84', on_duty: on })
  if (res.status === 401) expire()
}

// ---- session -----------------------------------------------------------------------------------

function expire(): void {
  sessionExpired.value = true
  stop()
  logout()
}

let started = false
let expiryTimer: ReturnType<typeof setInterval> | null = null

const onOnline = () => {
  online.value = true
  rt?.retryNow()
  void retryNow()
}
const onOffline = () => (online.value = false)

/** Starts everything for the signed-in worker. */
export function start(): void {
  if (started || !checkExpiry()) return
  started = true
  sessionExpired.value = false
  window.addEventListener('online', onOnline)
  window.addEventListener('offline', onOffline)
  startRealtime()
  void outbox.items().then((items) => (outboxItems.value = items))
  void flush()
  expiryTimer = setInterval(() => {
    if (!checkExpiry()) expire()
  }, 60_000)
}

/** Stops everything (sign-out). The outbox stays in IndexedDB for the next sign-in. */
export function stop(): void {
  started = false
  window.removeEventListener('online', onOnline)
  window.removeEventListener('offline', onOffline)
  rt?.stop()
  rt = null
  reporter?.stop()
  reporter = null
  onDuty.value = false
  if (expiryTimer) clearInterval(expiryTimer)
  if (drainTimer) clearTimeout(drainTimer)
  incidents.clear()
  loaded.value = false
}

// ---- PWA ---------------------------------------------------------------------------------------

/** Links the manifest and registers the service worker (scope /m/). */
export function installPWA(): void {
  if (!document.querySelector('link[rel="manifest"]')) {
    const add = (rel: string, href: string, extra: Record<string, string> = {}) => {
      const l = document.createElement('link')
      l.rel = rel
      l.href = href
      for (const [k, v] of Object.entries(extra)) l.setAttribute(k, v)
      document.head.appendChild(l)
    }
    add('manifest', '/m/manifest.webmanifest')
    add('apple-touch-icon', '/m/icon-192.png')
    const meta = document.createElement('meta')
    meta.name = 'theme-color'
    meta.content = '#0b5cad'
    document.head.appendChild(meta)
  }
  if ('serviceWorker' in navigator && import.meta.env.PROD) {
    navigator.serviceWorker.register('/m/sw.js', { scope: '/m/' }).catch(() => undefined)
  }
}
