// Browser test of the wall (/wall) against a running citybrain with live data (e.g. `make run`,
// whose simulator feeds it). Opens the wall at 1920×1080 and 3840×2160 in headless Chromium, waits
// for live incidents on the map and non-zero counters, checks the page for NaN/undefined, errors and
// requests to other origins, opens an incident card, and saves screenshots.
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

  // Counters: every KPI is a number (no dash left once live), open+closed present.
  const kpis = await page.$$eval('[data-kpi]', (els) => els.map((e) => [e.getAttribute('data-kpi'), e.textContent ?? '']))
  const nonNumeric = kpis.filter(([, v]) => !Number.isFinite(parseShown(v)))
  check(`${tag}: all KPI tiles show numbers`, kpis.length >= 7 && nonNumeric.length === 0, JSON.stringify(nonNumeric))

  const ticker = await page.$$eval('[data-ticker-item]', (els) => els.length)
  check(`${tag}: ticker lists incidents`, ticker > 0, `items=${ticker}`)

  // Let the map settle (labels, pulses) before the picture.
  await page.waitForTimeout(2500)
  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: resolve(ARTIFACTS, `wall-${tag}.png`), timeout: 120000 })

  // The incident card, opened from the ticker.
  if (card && ticker > 0) {
    // A DOM click (entries keep moving while incidents arrive, so they are never "stable"), on an
    // incident with a place if there is one, so the map flies to it.
    await page.$$eval('[data-ticker-item]', (els) => (els.find((e) => !e.querySelector('.unplaced')) ?? els[0])?.click())
    const card = await page
      .waitForSelector('[data-incident-card]', { state: 'attached', timeout: 30000 })
      .then(() => true)
      .catch((err) => String(err?.message ?? err).split('\n')[0])
    check(`${tag}: clicking an incident opens its card`, card === true, card === true ? '' : card)
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
