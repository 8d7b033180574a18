// Helpers shared by the wall's browser tests (wall.mjs, wall-command.mjs, wall-playback.mjs):
// checks, the browser, API calls (login, a CAP warning, worker positions) and layout checks.
// Not a test itself: run.sh runs every e2e/*.mjs, and this one only exports.
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
export const BASE_URL = (process.env.BASE_URL || 'http://localhost:8080').replace(/\/+$/, '')
export const ARTIFACTS = process.env.ARTIFACTS_DIR ? resolve(process.env.ARTIFACTS_DIR) : resolve(here, '../../artifacts')
export const EXECUTABLE = process.env.CHROMIUM || process.env.CHROME_BIN || '/usr/bin/chromium'

export const result = { passed: 0, failed: 0 }
export function check(name, ok, detail = '') {
  if (ok) result.passed++
  else result.failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`)
  return ok
}

export function finish(main) {
  main()
    .catch((err) => check('e2e script', false, String(err?.stack ?? err)))
    .finally(() => {
      console.log(`screenshots in ${ARTIFACTS}`)
      console.log(`${result.passed} passed, ${result.failed} failed`)
      process.exitCode = result.failed > 0 || result.passed === 0 ? 1 : 0
    })
}

export async function launch() {
  return chromium.launch({
    executablePath: EXECUTABLE,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
    ],
  })
}

/** JSON over HTTP against the server; returns {status, body}. */
export async function api(method, path, { token, body, type = 'application/json' } = {}) {
  const headers = { Accept: 'application/json' }
  if (token) headers.Authorization = `Bearer ${token}`
  if (body !== undefined) headers['Content-Type'] = type
  const res = await fetch(`${BASE_URL}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : type === 'application/json' ? JSON.stringify(body) : body,
  })
  let json = null
  try {
    json = await res.json()
  } catch {
    // not JSON
  }
  return { status: res.status, body: json }
}

export async function login(username, password) {
  const r = await api('POST', '/api/v1/auth/login', { body: { username, password } })
  return r.status === 200 ? r.body?.token : null
}

/** Posts a CAP 暴雨 warning over the middle of the sample city, in force for six hours. */
export async function postWarning(tag = 'e2e') {
  const now = new Date()
  const iso = (d) => d.toISOString().replace(/\.\d+Z$/, '+00:00')
  const id = `321204416000000${now.toISOString().replace(/\D/g, '').slice(0, 14)}${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}`
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>${id}</identifier><sender>qxj@jiangyan.gov.cn</sender><sent>${iso(now)}</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><language>zh-CN</language><category>Met</category><event>暴雨</event><urgency>Expected</urgency>
  <severity>Severe</severity><certainty>Likely</certainty><expires>${iso(new Date(now.getTime() + 6 * 3600e3))}</expires>
  <headline>姜堰区气象台发布暴雨橙色预警（${tag}）</headline>
  <description>预计未来6小时将出现50毫米以上降水</description>
  <parameter><valueName>alert_color</valueName><value>橙色</value></parameter>
  <area><areaDesc>姜堰区中部</areaDesc><polygon>32.48,120.10 32.53,120.10 32.53,120.16 32.48,120.16 32.48,120.10</polygon></area></info>
</alert>`
  return api('POST', '/api/v1/ingest/cap', { body: xml, type: 'application/cap+xml' })
}

/** Reports the demo worker's position a few times (a moving worker for the workers layer). */
export async function moveWorker(steps = 3) {
  const token = await login('worker', 'worker123')
  if (!token) return { status: 401 }
  let r = { status: 0 }
  for (let i = 0; i < steps; i++) {
    r = await api('POST', '/api/v1/workers/position', { token, body: { lon: 120.13 + i * 0.002, lat: 32.51, crs: 'wgs84', on_duty: true } })
  }
  return r
}

/** Collects page errors, console errors and requests to other origins for one page. */
export function watchPage(page) {
  const problems = { pageErrors: [], consoleErrors: [], foreign: [] }
  const origin = new URL(BASE_URL).origin
  page.on('pageerror', (err) => problems.pageErrors.push(String(err?.message ?? err)))
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.consoleErrors.push(msg.text())
  })
  page.on('request', (req) => {
    const u = req.url()
    if (u.startsWith('data:') || u.startsWith('blob:')) return
    try {
      const o = new URL(u).origin
      if (o !== origin && !o.startsWith('ws')) problems.foreign.push(u)
    } catch {
      problems.foreign.push(u)
    }
  })
  return problems
}

export async function textProblems(page) {
  const body = await page.evaluate(() => document.body.innerText)
  const bad = ['NaN', 'undefined', 'null', 'Invalid Date', '[object Object]'].filter((w) => body.includes(w))
  return { body, bad }
}

/**
 * Overlapping text: inside every panel (and the map's overlays), leaf elements with text and SVG
 * text nodes whose boxes intersect by more than 2 px, plus panels that overlap each other and
 * text cut off at a panel's edge. Returns descriptions of the problems.
 */
export async function overlapProblems(page) {
  return page.evaluate(() => {
    const out = []
    const visible = (el) => {
      const st = getComputedStyle(el)
      if (st.visibility === 'hidden' || st.display === 'none' || Number(st.opacity) === 0) return false
      const r = el.getBoundingClientRect()
      if (r.width <= 0 || r.height <= 0) return false
      // Cut away by an ancestor that clips its overflow: not on screen, not a problem.
      for (let a = el.parentElement; a && !a.classList.contains('panel'); a = a.parentElement) {
        const ov = getComputedStyle(a).overflow
        if (ov === 'visible') continue
        const ar = a.getBoundingClientRect()
        if (r.top >= ar.bottom - 1 || r.bottom <= ar.top + 1 || r.left >= ar.right - 1 || r.right <= ar.left + 1) return false
      }
      return true
    }
    // Where an element's text is drawn: its box, and beyond it when the text spills out (a word too
    // long for a narrow column runs into the next one: "Dispatcher指派…"). Text an element clips
    // (overflow hidden, an ellipsis) is drawn only within its box.
    const inkBox = (el) => {
      const r = el.getBoundingClientRect()
      if (el instanceof SVGElement || getComputedStyle(el).overflow !== 'visible') return r
      const range = document.createRange()
      range.selectNodeContents(el)
      const t = range.getBoundingClientRect()
      if (t.width <= 0 || t.height <= 0) return r
      const left = Math.min(r.left, t.left)
      const top = Math.min(r.top, t.top)
      return new DOMRect(left, top, Math.max(r.right, t.right) - left, Math.max(r.bottom, t.bottom) - top)
    }
    const panels = [...document.querySelectorAll('.panel')].filter(visible)
    const rects = panels.map((p) => p.getBoundingClientRect())
    const hit = (a, b, tol = 2) =>
      a.left < b.right - tol && a.right > b.left + tol && a.top < b.bottom - tol && a.bottom > b.top + tol
    for (let i = 0; i < rects.length; i++)
      for (let j = i + 1; j < rects.length; j++)
        if (hit(rects[i], rects[j])) out.push(`panels overlap: ${panels[i].querySelector('.panel-title')?.textContent} / ${panels[j].querySelector('.panel-title')?.textContent}`)
    for (const [pi, p] of panels.entries()) {
      const pr = rects[pi]
      const leaves = [...p.querySelectorAll('*')].filter(
        (el) =>
          visible(el) &&
          ((el instanceof SVGTextElement && el.textContent.trim() !== '') ||
            (!(el instanceof SVGElement) && [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== ''))),
      )
      // Ticker entries scroll/fade at the bottom by design: only the panel's own frame matters there.
      const boxes = leaves.map((el) => ({ el, r: inkBox(el) }))
      for (let i = 0; i < boxes.length; i++) {
        const a = boxes[i]
        if (a.el.closest('[data-ticker-item]')) continue
        if (a.r.bottom > pr.bottom + 1 || a.r.right > pr.right + 1 || a.r.left < pr.left - 1)
          out.push(`text outside its panel: "${a.el.textContent.trim().slice(0, 20)}"`)
        for (let j = i + 1; j < boxes.length; j++) {
          const b = boxes[j]
          if (a.el.contains(b.el) || b.el.contains(a.el)) continue
          if (hit(a.r, b.r)) out.push(`text overlaps: "${a.el.textContent.trim().slice(0, 16)}" / "${b.el.textContent.trim().slice(0, 16)}"`)
        }
      }
    }
    return out.slice(0, 10)
  })
}

export const WAIT_MS = Number(process.env.E2E_TIMEOUT_S || 120) * 1000

/** Opens the wall and waits for the map, live data and the HTTP panels. */
export async function openWall(browser, width, height, { lang = 'zh', storage = {} } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1, locale: 'zh-CN' })
  if (Object.keys(storage).length) {
    await context.addInitScript((kv) => {
      for (const [k, v] of Object.entries(kv)) localStorage.setItem(k, v)
    }, storage)
  }
  const page = await context.newPage()
  const problems = watchPage(page)
  await page.goto(`${BASE_URL}/wall${lang === 'zh' ? '' : `?lang=${lang}`}`, { waitUntil: 'domcontentloaded' })
  const ready = await page
    .waitForFunction(
      () =>
        document.querySelector('[data-map-state="ready"]') !== null &&
        document.querySelector('[data-live="yes"]') !== null &&
        Number(document.querySelector('[data-incidents-rendered]')?.getAttribute('data-incidents-rendered') ?? 0) > 0,
      null,
      { timeout: WAIT_MS, polling: 500 },
    )
    .then(() => true)
    .catch(() => false)
  return { context, page, problems, ready }
}
