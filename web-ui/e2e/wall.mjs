// Browser test of the wall (/wall) against a running citybrain with live data (e.g. `make run`,
// whose simulator feeds it). Opens the wall at 1920×1080 and 3840×2160 in headless Chromium, waits
// for live incidents on the map and non-zero counters, checks the page for NaN/undefined, errors and
// requests to other origins, opens an incident card, and saves screenshots. It also posts a CAP
// warning and a worker's positions first, then checks the KPI tiles, both trend charts, the
// rankings, the warnings panel and map layers, the workers layer and that no text overlaps.
// 战时 and 回放 have their own scripts (wall-command.mjs, wall-playback.mjs).
//
//   BASE_URL       the server (default http://localhost:8080)
//   ARTIFACTS_DIR  where screenshots go (default ../artifacts, relative to web-ui/)
//   CHROMIUM       the browser (default $CHROME_BIN, then /usr/bin/chromium)
//   E2E_TIMEOUT_S  how long to wait for live data per viewport (default 120)
//   E2E_QUICK=1    only the 1920×1080 run (while developing)
//
// Exit status 0 only if every check passed; the last line is "N passed, M failed".
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { api, login, moveWorker, overlapProblems, postWarning } from './wall-lib.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const BASE_URL = (process.env.BASE_URL || 'http://localhost:8080').replace(/\/+$/, '')
const ARTIFACTS = process.env.ARTIFACTS_DIR ? resolve(process.env.ARTIFACTS_DIR) : resolve(here, '../../artifacts')
const EXECUTABLE = process.env.CHROMIUM || process.env.CHROME_BIN || '/usr/bin/chromium'
const WAIT_MS = Number(process.env.E2E_TIMEOUT_S || 120) * 1000

let passed = 0
let failed = 0
function check(name, ok, detail = '') {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`)
  return ok
}

/** Number shown in an element, with separators removed; NaN when it is not a number. */
function parseShown(s) {
  return Number(String(s ?? '').replace(/[,\s件]/g, ''))
}

/** Collects page errors, console errors and requests to other origins for one page. */
function watch(page) {
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

async function textProblems(page) {
  const body = await page.evaluate(() => document.body.innerText)
  const bad = ['NaN', 'undefined', 'null', 'Invalid Date', '[object Object]'].filter((w) => body.includes(w))
  return { body, bad }
}

/** Six 12345 tickets about one burst main (fused into one incident); returns its id, or null. */
async function postStorm() {
  const tag = `E2E-WALL-STORM-${Date.now()}`
  const tickets = Array.from({ length: 6 }, (_, i) => ({
    ticket_no: `${tag}-${i}`, appeal_type: '求助', category: 'service.water.supply', content: `e2e：三水街道供水主管破裂，多处停水（第 ${i + 1} 个来电）`,
    lon: 120.121, lat: 32.512, caller_phone: `1390000${String(i).padStart(4, '0')}`,
  }))
  const token = await login('dispatcher', 'dispatcher123')
  const posted = await api('POST', '/api/v1/ingest/hotline', { body: tickets })
  const ids = (posted.body?.accepted ?? []).map((a) => a.id)
  check('wall: post a storm of 6 calls about one burst main', posted.status === 202 && ids.length === 6 && !!token, `status=${posted.status}`)
  if (!ids.length || !token) return null
  // As soon as the incident exists (the wall's ticker lists the newest 30, and the simulator adds
  // several a second); the calls fused in after it reach the open card live.
  for (let i = 0; i < 120; i++) {
    const list = await api('GET', '/api/v1/incidents?limit=100', { token })
    const inc = list.body?.items?.find((x) => x.event_ids?.some((id) => ids.includes(id)))
    if (inc) return inc.id
    await new Promise((r) => setTimeout(r, 250))
  }
  check('wall: the storm became an incident', false, 'not within 30 s')
  return null
}

async function wallAt(browser, width, height, { lang = 'zh', card = true } = {}) {
  const tag = lang === 'zh' ? `${width}` : `${width}-${lang}`
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1, locale: 'zh-CN' })
  const page = await context.newPage()
  const problems = watch(page)
  const t0 = Date.now()
  await page.goto(`${BASE_URL}/wall${lang === 'zh' ? '' : `?lang=${lang}`}`, { waitUntil: 'domcontentloaded' })
  const title = await page.textContent('.hd-title', { timeout: 30000 }).catch(() => null)
  const want = lang === 'zh' ? '姜堰区城市运行管理中心' : 'Jiangyan City Operations Center'
  check(`${tag}: title in ${lang}`, title === want, `title=${title}`)

  const mapReady = await page
    .waitForSelector('[data-map-state="ready"]', { timeout: 90000 })
    .then(() => true)
    .catch(() => false)
  check(`${tag}: map initialised (WebGL)`, mapReady)

  // Live data: a rendered incident circle and a non-zero "today" counter, from the websocket.
  const live = await page
    .waitForFunction(
      () => {
        const map = document.querySelector('[data-incidents-rendered]')
        const total = document.querySelector('[data-kpi="today-total"]')
        const n = Number((total?.textContent ?? '').replace(/[,\s]/g, ''))
        return (
          document.querySelector('[data-live="yes"]') !== null &&
          Number(map?.getAttribute('data-incidents-rendered') ?? 0) > 0 &&
          Number.isFinite(n) &&
          n > 0
        )
      },
      null,
      { timeout: WAIT_MS, polling: 500 },
    )
    .then(() => true)
    .catch(() => false)
  const rendered = await page.getAttribute('[data-incidents-rendered]', 'data-incidents-rendered').catch(() => null)
  const total = await page.textContent('[data-kpi="today-total"]').catch(() => null)
  check(
    `${tag}: live incidents on the map and non-zero counters`,
    live,
    `rendered=${rendered} today=${total} after ${((Date.now() - t0) / 1000).toFixed(1)}s`,
  )

  const conn = await page.getAttribute('[data-conn]', 'data-conn').catch(() => null)
  check(`${tag}: websocket connected`, conn === 'open', `state=${conn}`)

  // HTTP-polled panels: case KPIs, trends, rankings (values, not placeholders).
  const panels = await page
    .waitForFunction(
      () => {
        const n = (sel) => document.querySelectorAll(sel).length
        const total = (w) => Number(document.querySelector(`[data-trend="${w}"]`)?.getAttribute('data-trend-total') ?? 0)
        const numbers = [...document.querySelectorAll('[data-kpi]')].every((e) => /\d/.test(e.textContent ?? ''))
        return numbers && n('[data-kpi^="case-"]') >= 3 && n('[data-trend="24h"] .bars rect') === 24 && n('[data-trend="30d"] .bars rect') === 30 && total('24h') > 0 && total('30d') > 0 && n('[data-rank-row]') > 0
      },
      null,
      { timeout: 60000, polling: 500 },
    )
    .then(() => true)
    .catch(() => false)
  const trendInfo = await page.evaluate(() =>
    ['24h', '30d'].map((w) => {
      const el = document.querySelector(`[data-trend="${w}"]`)
      return `${w}: bars=${el?.querySelectorAll('.bars rect').length} total=${el?.getAttribute('data-trend-total')} labels=${el?.querySelectorAll('.xlabels text').length}`
    }),
  )
  check(`${tag}: trend charts (24 h, 30 d) and rankings rendered with data`, panels, trendInfo.join('; '))
  // Counters: every KPI is a number (no dash left once live), open+closed present.
  const kpis = await page.$$eval('[data-kpi]', (els) => els.map((e) => [e.getAttribute('data-kpi'), e.textContent ?? '']))
  const nonNumeric = kpis.filter(([, v]) => !Number.isFinite(parseShown(v)))
  check(`${tag}: all KPI tiles show numbers`, kpis.length >= 7 && nonNumeric.length === 0, JSON.stringify(nonNumeric))

  const rates = await page.$$eval('[data-rate]', (els) => els.map((e) => [e.getAttribute('data-rate'), e.textContent ?? '']))
  const badRates = rates.filter(([, v]) => !/^(\d+(\.\d)?%|\d+(\.\d)?\s?(秒|分钟|小时|s|min|h)|暂无|n\/a)$/.test(v.trim()))
  check(`${tag}: 按时办结率, 满意率, mean dispatch time shown`, rates.length === 3 && badRates.length === 0, JSON.stringify(rates))
  const fresh = await page.textContent('[data-fresh="kpi"]').catch(() => '')
  check(`${tag}: KPI freshness shown`, /\d{2}:\d{2}:\d{2}/.test(fresh ?? ''), `fresh=${fresh}`)

  // The warning posted by main(): in the panel and drawn on the map with its grids.
  const warn = await page
    .waitForFunction(
      () => document.querySelectorAll('[data-warning]').length > 0 && Number(document.querySelector('[data-warnings-shown]')?.getAttribute('data-warnings-shown') ?? 0) > 0,
      null,
      { timeout: 30000, polling: 500 },
    )
    .then(() => true)
    .catch(() => false)
  check(`${tag}: active CAP warning listed and its area on the map`, warn, await page.textContent('.warn-box').catch(() => ''))
  const workers = await page
    .waitForFunction(() => Number(document.querySelector('[data-workers-shown]')?.getAttribute('data-workers-shown') ?? 0) > 0, null, {
      timeout: 30000,
      polling: 500,
    })
    .then(() => true)
    .catch(() => false)
  check(
    `${tag}: worker positions on the map`,
    workers,
    `shown=${await page.getAttribute('[data-workers-shown]', 'data-workers-shown').catch(() => null)}`,
  )

  const modeSwitch = await page.$('[data-mode-switch]')
  check(`${tag}: no 战时 switch for the anonymous viewer`, modeSwitch === null)

  const ticker = await page.$$eval('[data-ticker-item]', (els) => els.length)
  check(`${tag}: ticker lists incidents`, ticker > 0, `items=${ticker}`)

  // Let the map settle (labels, pulses) before the picture.
  await page.waitForTimeout(2500)
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: resolve(ARTIFACTS, `wall-${tag}.png`), timeout: 120000 })

  // The incident card, opened from the ticker: at the design size the storm's incident (posted
  // just before), whose steps fold the calls fused in; else one with a place if there is one, so
  // the map flies to it.
  if (card && ticker > 0) {
    const storm = width === 1920 && lang === 'zh' ? await postStorm() : null
    if (storm) {
      await page.waitForSelector(`[data-ticker-item][data-id="${storm}"]`, { state: 'attached', timeout: 30000 }).catch(() => null)
    }
    // A DOM click (entries keep moving while incidents arrive, so they are never "stable").
    await page.$$eval('[data-ticker-item]', (els, id) => (els.find((e) => e.dataset.id === id) ?? els.find((e) => !e.querySelector('.unplaced')) ?? els[0])?.click(), storm)
    const card = await page
      .waitForSelector('[data-incident-card]', { state: 'attached', timeout: 30000 })
      .then(() => true)
      .catch((err) => String(err?.message ?? err).split('\n')[0])
    check(`${tag}: clicking an incident opens its card`, card === true, card === true ? '' : card)
    if (storm) {
      const folded = await page
        .waitForSelector('[data-incident-card] [data-testid="card-step-repeats"]', { timeout: 15000 })
        .then((el) => el.textContent())
        .catch(() => '')
      check(`${tag}: the card of a storm's incident folds the calls fused in into one step`, /×[2-9]/.test(folded), `step ${folded || 'not folded'}`)
    }
    await page.waitForTimeout(1800)
    await page.screenshot({ path: resolve(ARTIFACTS, `wall-${tag}-card.png`), timeout: 120000 })
  }

  // The heat layer toggle (once, at the design size).
  if (card && width === 1920) {
    // DOM clicks: on a loaded machine Playwright's actionability checks can time out on a busy page.
    await page.$eval('[data-toggle="heat"]', (el) => el.click())
    const on = await page.getAttribute('[data-toggle="heat"]', 'aria-pressed')
    check(`${tag}: heat layer toggles on`, on === 'true', `aria-pressed=${on}`)
    await page.$eval('[data-incident-card] .close', (el) => el.click()).catch(() => {})
    await page.$eval('.map-home', (el) => el.click()) // back to the district view
    await page.waitForTimeout(4000)
    await page.screenshot({ path: resolve(ARTIFACTS, `wall-${tag}-heat.png`), timeout: 120000 })
    await page.$eval('[data-toggle="heat"]', (el) => el.click())
  }

  const overlaps = await overlapProblems(page)
  check(`${tag}: no overlapping or clipped text in the panels`, overlaps.length === 0, overlaps.join(' | '))

  const { bad } = await textProblems(page)
  check(`${tag}: no NaN/undefined/null in the page text`, bad.length === 0, bad.join(', '))

  // Layout: the header, the side panels and the map lie inside the viewport and do not overlap.
  const boxes = await page.evaluate(() => {
    const r = (sel) => {
      const b = document.querySelector(sel)?.getBoundingClientRect()
      return b ? { x: b.x, y: b.y, w: b.width, h: b.height } : null
    }
    return { header: r('.wall-header'), left: r('.col-left'), map: r('.map-frame'), right: r('.col-right') }
  })
  const inView = Object.values(boxes).every(
    (b) => b && b.w > 0 && b.h > 0 && b.x >= 0 && b.y >= 0 && b.x + b.w <= width + 1 && b.y + b.h <= height + 1,
  )
  const apart =
    boxes.left && boxes.map && boxes.right && boxes.header
      ? boxes.left.x + boxes.left.w <= boxes.map.x && boxes.map.x + boxes.map.w <= boxes.right.x && boxes.header.y + boxes.header.h <= boxes.map.y
      : false
  check(`${tag}: layout fills the screen without overlap`, inView && apart, JSON.stringify(boxes))

  check(`${tag}: no page errors`, problems.pageErrors.length === 0, problems.pageErrors.slice(0, 3).join(' | '))
  check(`${tag}: no console errors`, problems.consoleErrors.length === 0, problems.consoleErrors.slice(0, 3).join(' | '))
  check(`${tag}: no requests to other origins (offline)`, problems.foreign.length === 0, problems.foreign.slice(0, 3).join(' | '))
  await context.close()
}

async function main() {
  let browser
  try {
    browser = await chromium.launch({
      executablePath: EXECUTABLE,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        // WebGL for MapLibre without a GPU: SwiftShader, which newer Chromium only allows when asked.
        '--use-angle=swiftshader',
        '--enable-unsafe-swiftshader',
      ],
    })
  } catch (err) {
    check(`launch Chromium (${EXECUTABLE})`, false, String(err?.message ?? err).split('\n')[0])
    return
  }
  try {
    const live = await fetch(`${BASE_URL}/livez`).then((r) => r.ok).catch(() => false)
    if (!check(`server answers ${BASE_URL}/livez`, live)) return
    const w = await postWarning('wall.mjs')
    check('post a CAP warning', w.status === 202, `status=${w.status}`)
    const mv = await moveWorker(2)
    check('post a worker position', mv.status >= 200 && mv.status < 300, `status=${mv.status}`)
    const runs = [
      [1920, 1080, {}],
      [3840, 2160, {}],
      [1920, 1080, { lang: 'en', card: false }],
      // A wide video wall: the extra width goes to the map.
      [5760, 1080, { card: false }],
    ]
    for (const [w, h, opts] of process.env.E2E_QUICK ? runs.slice(0, 1) : runs) {
      await wallAt(browser, w, h, opts).catch((err) => check(`${w}: wall run`, false, String(err?.message ?? err).split('\n')[0]))
    }
  } finally {
    await browser.close()
  }
}

main()
  .catch((err) => check('e2e script', false, String(err?.stack ?? err)))
  .finally(() => {
    console.log(`screenshots in ${ARTIFACTS}`)
    console.log(`${passed} passed, ${failed} failed`)
    process.exitCode = failed > 0 || passed === 0 ? 1 : 0
  })
