// Browser test of the grid worker's phone app (/m) against a running citybrain (scripts/e2e/run.sh
// starts one with the simulator). A phone-sized context (390×844, touch, geolocation granted at
// the centre of grid 321204004012004): the worker signs in; a dispatcher (through the API)
// dispatches a fresh incident to `worker`; the task arrives live with a banner; the worker
// accepts and starts it, goes offline, reports it handled with a note and a photo (pending-count
// 1), comes back online; the outbox drains once — the incident reaches `handled` exactly once in
// its timeline, and a resend of the same command with the same Idempotency-Key changes nothing;
// then the worker reports a new grid issue with a photo. Screenshots of each screen.
//
//   BASE_URL       the server (default http://localhost:8080)
//   ARTIFACTS_DIR  where screenshots go (default ../artifacts, relative to web-ui/)
//   CHROMIUM       the browser (default $CHROME_BIN, then /usr/bin/chromium)
//
// Exit status 0 only if every check passed; the last line is "N passed, M failed".
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createServer, connect } from 'node:net'
import { deflateSync } from 'node:zlib'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
const BASE_URL = (process.env.BASE_URL || 'http://localhost:8080').replace(/\/+$/, '')
const ARTIFACTS = process.env.ARTIFACTS_DIR ? resolve(process.env.ARTIFACTS_DIR) : resolve(here, '../../artifacts')
const EXECUTABLE = process.env.CHROMIUM || process.env.CHROME_BIN || '/usr/bin/chromium'
const GRID = '321204004012004'

let passed = 0
let failed = 0
function check(name, ok, detail = '') {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`)
  return ok
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * A TCP relay to the server that the test can cut: the browser talks to the app through it, so
 * "no network" at the end is real (connection refused), below the service worker — Chromium's
 * offline emulation fails navigations before a service worker sees them.
 */
async function relay(target) {
  const { hostname, port } = new URL(target)
  const sockets = new Set()
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => s.destroy())
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  // A check that throws before the relay is cut must not leave it holding the process open (the
  // script then never ended, and CI waited for it).
  server.unref()
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut: () => {
      server.close()
      for (const s of sockets) s.destroy()
    },
  }
}

async function api(method, path, { token, body, headers = {} } = {}) {
  const h = { Accept: 'application/json', ...headers }
  if (token) h.Authorization = `Bearer ${token}`
  if (body !== undefined) h['Content-Type'] = 'application/json'
  const res = await fetch(`${BASE_URL}${path}`, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) })
  const data = await res.json().catch(() => null)
  return { status: res.status, data }
}

async function waitFor(fn, ms, every = 500) {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v || Date.now() > end) return v
    await sleep(every)
  }
}

/** A small real PNG (a colour gradient), so the phone's downscale/JPEG path runs on it. */
function makePNG(w, h) {
  const raw = Buffer.alloc((w * 3 + 1) * h)
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3
      raw[o] = (x * 255) / w
      raw[o + 1] = (y * 255) / h
      raw[o + 2] = 160
    }
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (buf) => {
    let c = 0xffffffff
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const td = Buffer.concat([Buffer.from(type), data])
    const c = Buffer.alloc(4)
    c.writeUInt32BE(crc(td))
    return Buffer.concat([len, td, c])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(h, 4)
  ihdr[8] = 8
  ihdr[9] = 2
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))])
}

/** The centre of the grid cell's bounding box. */
async function gridCentre() {
  const { data } = await api('GET', '/api/v1/gis/layers/grids')
  const f = data?.features?.find((x) => x.properties?.code === GRID)
  if (!f) return null
  const pts = JSON.stringify(f.geometry.coordinates).match(/-?\d+(\.\d+)?/g).map(Number)
  const lons = pts.filter((_, i) => i % 2 === 0)
  const lats = pts.filter((_, i) => i % 2 === 1)
  return { longitude: (Math.min(...lons) + Math.max(...lons)) / 2, latitude: (Math.min(...lats) + Math.max(...lats)) / 2 }
}

/** Up to ±0.002° (±200 m) around a point north-east of the worker. */
const jitter = () => (Math.random() - 0.5) * 0.004

/**
 * A fresh incident in the worker's grid, dispatched by the dispatcher to worker_id `worker`. The
 * complaint is about property management (物业管理), a family that never fuses (every complaint is
 * a case of its own, services/enrich/fusion.go): the simulator sends one report in 25 into this
 * grid, and a street-order report here (占道经营, as before) was fused into one of its open
 * incidents in CI four times running. If no incident appears in time it is sent again.
 */
async function dispatchNew(disp, pos, tag) {
  let inc
  for (let attempt = 1; attempt <= 4 && !inc; attempt++) {
    const body = { ticket_no: `GD-M-${tag}-${attempt}`, appeal_type: '投诉', category: '物业管理', content: `小区楼道堆放杂物，物业不清理 ${tag}`, lon: pos.longitude + 0.0012 + jitter(), lat: pos.latitude + 0.0008 + jitter(), address: '三林社区菜场东侧小区' }
    const ing = await api('POST', '/api/v1/ingest/hotline', { body })
    if (ing.status !== 202) throw new Error(`ingest: ${ing.status} ${JSON.stringify(ing.data)}`)
    inc = await waitFor(async () => {
      const r = await api('GET', `/api/v1/incidents?q=${encodeURIComponent(tag)}&state=all`, { token: disp })
      return r.data?.items?.[0]
    }, 10000)
  }
  if (!inc) throw new Error('the ingested report did not become an incident')
  for (let i = 0; i < 5; i++) {
    const cur = (await api('GET', `/api/v1/incidents/${inc.id}`, { token: disp })).data
    const base = { base_version: cur.version }
    let r
    if (cur.state === 'received') r = await api('POST', `/api/v1/tasks/${inc.id}/file`, { token: disp, body: base })
    else if (['filed', 'returned', 'reopened'].includes(cur.state)) r = await api('POST', `/api/v1/tasks/${inc.id}/dispatch`, { token: disp, body: { ...base, worker_id: 'worker', department: '城市管理局' } })
    else if (cur.state === 'dispatched' && cur.task?.worker_id === 'worker') return inc.id
    else if (['dispatched', 'accepted', 'in_progress'].includes(cur.state)) r = await api('POST', `/api/v1/tasks/${inc.id}/reassign`, { token: disp, body: { ...base, worker_id: 'worker', department: '城市管理局', reason: 'e2e: 指派网格员' } })
    else throw new Error(`incident in state ${cur.state}`)
    if (r.status !== 200 && r.status !== 409) throw new Error(`${cur.state}: ${r.status} ${JSON.stringify(r.data)}`)
  }
  throw new Error('could not dispatch the incident')
}

async function textProblems(page) {
  const body = await page.evaluate(() => document.body.innerText)
  return ['NaN', 'undefined', 'null', 'Invalid Date', '[object Object]'].filter((w) => body.includes(w))
}

async function shot(page, name) {
  await page.waitForTimeout(300)
  await page.screenshot({ path: resolve(ARTIFACTS, `mobile-${name}.png`) })
  const bad = await textProblems(page)
  check(`${name}: no NaN/undefined on screen`, bad.length === 0, bad.join(', '))
}

async function run(browser) {
  const pos = await gridCentre()
  if (!check(`grid ${GRID} found in the GIS layer`, !!pos)) return
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    locale: 'zh-CN',
    geolocation: { ...pos, accuracy: 12 },
    permissions: ['geolocation', 'notifications'],
  })
  const page = await context.newPage()
  const net = await relay(BASE_URL)
  const APP = net.url
  const errors = []
  const foreign = []
  const origin = new URL(APP).origin
  page.on('pageerror', (e) => errors.push(String(e?.message ?? e)))
  page.on('console', (m) => m.type() === 'warning' && m.text().startsWith('task map') && errors.push(m.text()))
  page.on('request', (req) => {
    const u = req.url()
    if (!u.startsWith('data:') && !u.startsWith('blob:') && !u.startsWith('ws') && new URL(u).origin !== origin) foreign.push(u)
  })

  // ---- sign in ----
  await page.goto(`${APP}/m/`, { waitUntil: 'domcontentloaded' })
  await page.waitForSelector('[data-testid="login-user"]', { timeout: 30000 })
  // make run has the demo accounts on (no USERS_FILE): the form names them.
  check('the demo accounts are named on the sign-in page', await page.waitForSelector('[data-testid="login-hint"]', { timeout: 10000 }).then(() => true).catch(() => false))
  await shot(page, 'login')
  await page.fill('[data-testid="login-pass"]', 'wrong')
  await page.fill('[data-testid="login-user"]', 'worker')
  await page.tap('[data-testid="login-submit"]')
  check('wrong password is refused with a message', await page.waitForSelector('.lg-error', { timeout: 10000 }).then(() => true).catch(() => false))
  await page.fill('[data-testid="login-pass"]', 'worker123')
  await page.tap('[data-testid="login-submit"]')
  const listed = await page.waitForSelector('.tl-head', { timeout: 20000 }).then(() => true).catch(() => false)
  check('signed in: my tasks shown', listed)
  const token = await page.evaluate(() => localStorage.getItem('citybrain.token'))
  check('token kept in localStorage', typeof token === 'string' && token.split('.').length === 3)
  await page.waitForFunction(() => !document.body.innerText.includes('正在加载任务'), null, { timeout: 20000 }).catch(() => undefined)
  const swOK = await page
    .waitForFunction(async () => !!(await navigator.serviceWorker?.getRegistration('/m/'))?.active, null, { timeout: 20000 })
    .then(() => true)
    .catch(() => false)
  check('service worker (scope /m/) active', swOK)

  // ---- on duty: consent, then the position goes to the server ----
  page.once('dialog', (d) => void d.accept())
  const posted = page.waitForResponse((r) => r.url().endsWith('/api/v1/workers/position') && r.request().method() === 'POST', { timeout: 20000 })
  await page.tap('[data-testid="duty-toggle"]')
  const posRes = await posted.catch(() => null)
  check('on duty (after consent): position reported', posRes?.status() === 200, `status=${posRes?.status()}`)
  check('duty toggle shows 在岗', (await page.getAttribute('[data-testid="duty-toggle"]', 'aria-pressed')) === 'true')

  // ---- a task arrives live ----
  const dispRes = await api('POST', '/api/v1/auth/login', { body: { username: 'dispatcher', password: 'dispatcher123' } })
  const disp = dispRes.data?.token
  const tag = `E2EM${Date.now().toString(36)}`
  const id = await dispatchNew(disp, pos, tag)
  check('dispatcher dispatched a fresh incident to worker', !!id, id)
  const toast = await page.waitForSelector('[data-testid="new-task-toast"]', { timeout: 30000 }).then(() => true).catch(() => false)
  check('new-task banner shown live', toast)
  await page.waitForSelector(`[data-testid="task-item"][data-id="${id}"]`, { timeout: 20000 })
  await shot(page, 'tasks-new')
  check('the task is in my list as dispatched', (await page.getAttribute(`[data-testid="task-item"][data-id="${id}"]`, 'data-state')) === 'dispatched')

  // ---- detail, accept, start ----
  await page.tap(`[data-testid="task-item"][data-id="${id}"]`)
  await page.waitForSelector('[data-testid="task-action-accept"]', { timeout: 20000 })
  const mapReady = await page.waitForSelector('[data-map-state="ready"]', { timeout: 30000 }).then(() => true).catch(() => false)
  check('task map initialised', mapReady)
  check('grids and roads drawn on the task map', await page.waitForSelector('[data-layers="2"]', { timeout: 30000 }).then(() => true).catch(() => false))
  await page.waitForTimeout(1000)
  check('navigate link is a geo: URI', /^geo:-?\d/.test((await page.getAttribute('[data-testid="navigate"]', 'href')) ?? ''))
  await shot(page, 'detail-dispatched')
  await page.tap('[data-testid="task-action-accept"]')
  await page.waitForSelector('[data-testid="task-action-start"]', { timeout: 20000 })
  await page.waitForFunction(() => document.querySelector('[data-testid="task-detail"]')?.getAttribute('data-state') === 'accepted' && !document.querySelector('[data-testid="task-queued"]'), null, { timeout: 20000 })
  check('accepted (签收)', true)
  await page.tap('[data-testid="task-action-start"]')
  await page.waitForSelector('[data-testid="task-action-handle"]', { timeout: 20000 })
  await page.waitForFunction(() => !document.querySelector('[data-testid="task-queued"]'), null, { timeout: 20000 })
  const started = (await api('GET', `/api/v1/incidents/${id}`, { token: disp })).data
  check('started (开始处置): in_progress on the server', started?.state === 'in_progress', started?.state)

  // ---- offline: handle with a note and a photo ----
  await context.setOffline(true)
  await page.waitForSelector('[data-testid="net-state"].is-off', { timeout: 10000 })
  await page.tap('[data-testid="task-action-handle"]')
  await page.fill('[data-testid="handle-note"]', '已劝离摊贩，现场已清理')
  await page.setInputFiles('[data-testid="handle-photo"]', { name: 'scene.png', mimeType: 'image/png', buffer: makePNG(2400, 1800) })
  await page.waitForSelector('[data-testid="photo-thumb"]', { timeout: 20000 })
  await shot(page, 'handle-form')
  await page.tap('[data-testid="handle-submit"]')
  const optimistic = await page
    .waitForFunction(() => document.querySelector('[data-testid="task-detail"]')?.getAttribute('data-state') === 'handled', null, { timeout: 10000 })
    .then(() => true)
    .catch(() => false)
  check('offline: the task shows handled optimistically', optimistic)
  check('offline: pending-count is 1', (await page.textContent('[data-testid="pending-count"]'))?.trim() === '1', await page.textContent('[data-testid="pending-count"]'))
  await shot(page, 'offline-handled')
  // What the outbox holds: the photo (its sha256 as id) and the command (its Idempotency-Key).
  const held = await page.evaluate(
    () =>
      new Promise((res) => {
        const r = indexedDB.open('citybrain-m')
        r.onsuccess = () => {
          const g = r.result.transaction('outbox').objectStore('outbox').getAll()
          g.onsuccess = () => res(g.result.map((i) => ({ id: i.id, kind: i.kind, action: i.action, body: i.body, size: i.blob?.size, type: i.blob?.type })))
        }
      }),
  )
  const photoItem = held.find((i) => i.kind === 'photo')
  const cmdItem = held.find((i) => i.kind === 'command')
  check('outbox holds the photo as a JPEG', photoItem?.type === 'image/jpeg' && photoItem.size > 0, JSON.stringify(photoItem))
  check('outbox holds the handle command naming the photo', cmdItem?.action === 'handle' && cmdItem.body?.photos?.[0] === `/api/v1/media/${photoItem?.id}`)
  await page.tap('[data-testid="outbox-tab"]')
  await page.waitForSelector('[data-testid="outbox-item"]', { timeout: 5000 })
  await shot(page, 'outbox-offline')
  check('photo and command did not reach the server while offline', (await api('GET', `/api/v1/incidents/${id}`, { token: disp })).data?.state === 'in_progress')

  // ---- online: the outbox drains once ----
  await context.setOffline(false)
  const t0 = Date.now()
  const drained = await page.waitForFunction(() => document.querySelector('[data-testid="pending-count"]')?.textContent?.trim() === '0', null, { timeout: 60000 }).then(() => true).catch(() => false)
  check('online: the outbox drained (pending-count 0)', drained, `${Date.now() - t0} ms after coming back online`)
  const after = (await api('GET', `/api/v1/incidents/${id}`, { token: disp })).data
  const handledOnce = (tl) => (tl ?? []).filter((e) => e.to === 'handled' && e.outcome !== 'refused').length
  check('the incident is handled, exactly once in its timeline', after?.state === 'handled' && handledOnce(after.timeline) === 1, `state=${after?.state} handled=${handledOnce(after?.timeline)}`)
  const entry = (after?.timeline ?? []).find((e) => e.to === 'handled')
  check('the handled entry carries the note and the photo id', entry?.note === '已劝离摊贩，现场已清理' && entry?.photos?.[0] === photoItem?.id, JSON.stringify(entry?.photos))
  const photo = await fetch(`${BASE_URL}/api/v1/media/${photoItem?.id}`, { headers: { Authorization: `Bearer ${disp}` } })
  const buf = Buffer.from(await photo.arrayBuffer())
  check('the photo is stored and served as image/jpeg', photo.status === 200 && photo.headers.get('content-type') === 'image/jpeg' && buf[0] === 0xff && buf[1] === 0xd8)
  // A resend after a lost answer: the same command with the same Idempotency-Key.
  const again = await api('POST', `/api/v1/tasks/${id}/handle`, { token, body: cmdItem.body, headers: { 'Idempotency-Key': cmdItem.id } })
  const after2 = (await api('GET', `/api/v1/incidents/${id}`, { token: disp })).data
  check('a resend with the same Idempotency-Key applies nothing twice', again.status === 200 && after2.version === after.version && handledOnce(after2.timeline) === 1, `status=${again.status} v=${after?.version}→${after2?.version}`)
  const reup = await fetch(`${BASE_URL}/api/v1/media`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'image/jpeg' }, body: buf })
  check('re-uploading the same photo is the same object (200)', reup.status === 200 && (await reup.json()).id === photoItem?.id)
  await page.goto(`${APP}/m/task/${id}`, { waitUntil: 'domcontentloaded' })
  await page.waitForSelector('.td-tl-photos img', { timeout: 20000 }).catch(() => undefined)
  await shot(page, 'detail-handled')

  // ---- report a new grid issue ----
  await page.tap('[data-testid="report-new"]')
  await page.waitForSelector('[data-testid="report-category"] option:not([disabled])', { state: 'attached', timeout: 20000 })
  const offered = await page.$$eval('[data-testid="report-category"] option', (os) => os.map((o) => o.textContent?.trim() ?? ''))
  check('the report form offers what a patrol meets, not a weather warning or a policy question',
    offered.includes('井盖缺失破损') && offered.includes('垃圾堆放') && !offered.includes('气象预警') && !offered.includes('政策咨询'), offered.join(' '))
  // Another category than the task's, so the report is not fused into it.
  await page.selectOption('[data-testid="report-category"]', { label: '垃圾堆放' })
  const rtag = `E2ER${Date.now().toString(36)}`
  await page.fill('[data-testid="report-description"]', `绿化带内垃圾堆积 ${rtag}`)
  await page.setInputFiles('[data-testid="report-photo"]', { name: 'trash.png', mimeType: 'image/png', buffer: makePNG(640, 480) })
  await page.waitForSelector('[data-testid="photo-thumb"]', { timeout: 20000 })
  await page.waitForFunction(() => /\d+\.\d+, \d+\.\d+/.test(document.querySelector('[data-testid="report-position"]')?.textContent ?? ''), null, { timeout: 20000 })
  await shot(page, 'report')
  await page.tap('[data-testid="report-submit"]')
  await page.waitForSelector('.tl-head', { timeout: 10000 })
  await page.waitForFunction(() => document.querySelector('[data-testid="pending-count"]')?.textContent?.trim() === '0', null, { timeout: 60000 }).catch(() => undefined)
  // The report opens a new incident, or — rerun against the same server — is fused into the open
  // incident of the last run at the same spot: then it is one of that incident's reports.
  const reported = await waitFor(async () => {
    const r = await api('GET', `/api/v1/incidents?q=${encodeURIComponent(rtag)}&state=all`, { token: disp })
    if (r.data?.items?.[0]) return r.data.items[0]
    const near = await api('GET', `/api/v1/incidents?source=grid&state=all&limit=50`, { token: disp })
    for (const inc of (near.data?.items ?? []).filter((i) => i.place?.grid?.code === GRID).slice(0, 10)) {
      const d = (await api('GET', `/api/v1/incidents/${inc.id}`, { token: disp })).data
      if ((d?.reports ?? []).some((e) => JSON.stringify(e).includes(rtag))) return d
    }
    return null
  }, 30000, 1000)
  check('the grid report reached the server as a report in the worker’s grid', !!reported && reported.sources?.grid >= 1 && reported.place?.grid?.code === GRID, JSON.stringify({ id: reported?.id, grid: reported?.place?.grid?.code, sources: reported?.sources }))
  await shot(page, 'tasks-after')

  // ---- offline start: the shell comes from the service worker ----
  // Chromium's offline emulation fails a navigation before the service worker sees it, so the
  // network is cut below the worker instead: the relay closes, as with no signal at all.
  net.cut()
  const offlineStart = await page
    .reload({ waitUntil: 'domcontentloaded' })
    .then(() => page.waitForSelector('.tl-head', { timeout: 15000 }))
    .then(() => true)
    .catch(() => false)
  check('offline start: the app shell loads from the service worker cache', offlineStart)
  check('offline start: my tasks kept on the phone are listed', (await page.locator(`[data-testid="task-item"][data-id="${id}"]`).count()) === 1 && (await page.locator('[data-testid="tasks-stale"]').count()) === 1)
  await shot(page, 'offline-start')

  // English is one switch away.
  await page.goto(`${APP}/m/?lang=en`, { waitUntil: 'domcontentloaded' }).catch(() => undefined)
  const en = await page.waitForFunction(() => document.body.innerText.includes('My tasks'), null, { timeout: 15000 }).then(() => true).catch(() => false)
  check('English UI (?lang=en)', en)
  await shot(page, 'tasks-en')

  check('no page errors', errors.length === 0, errors.join(' | '))
  check('no requests to other origins', foreign.length === 0, foreign.slice(0, 3).join(' '))
  await context.close()
}

async function main() {
  mkdirSync(ARTIFACTS, { recursive: true })
  let browser
  try {
    browser = await chromium.launch({
      executablePath: EXECUTABLE,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
    })
  } catch (err) {
    check(`launch Chromium (${EXECUTABLE})`, false, String(err?.message ?? err).split('\n')[0])
    return
  }
  try {
    await run(browser)
  } finally {
    await browser.close()
  }
}

main()
  .catch((err) => check('e2e script', false, String(err?.stack ?? err).split('\n').slice(0, 3).join(' ')))
  .finally(() => {
    console.log(`screenshots in ${ARTIFACTS}`)
    console.log(`${passed} passed, ${failed} failed`)
    process.exitCode = failed > 0 || passed === 0 ? 1 : 0
  })
