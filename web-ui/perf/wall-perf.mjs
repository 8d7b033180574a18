// Performance and soak measurement of the wall (/wall) with many live incidents. Not a CI test
// (scripts/e2e/run.sh runs every script in e2e/, and frame times on a shared machine without a GPU
// say little): run it by hand. Self-contained: the built app (../services/webui/dist) and the sample city's GIS layers (../gis/sample/data) are
// served to the browser by request interception, and the realtime server is emulated with
// Playwright's routeWebSocket: a snapshot of PERF_INCIDENTS incidents, then PERF_RATE deltas per
// second (updates of existing incidents and new ones), and PERF_WORKERS workers that move every
// second (`positions` deltas, as the gateway coalesces them). The HTTP panels (KPI, trends, mode)
// get synthetic answers. Frame times are measured twice: while updates stream on a still map, and
// while the map is panned and zoomed with the mouse, first for a baseline in the same run (the same
// wall with an empty city: no incidents, workers or deltas) and then under the load. No citybrain
// needs to run. Beside the frame times it prints the renderer main thread's busy time per second,
// JavaScript apart from the rest: without a GPU the frame time is mostly the software rasterizer,
// while the JavaScript share is what the wall's own code costs on any machine.
//
//   PERF_INCIDENTS  incidents in the snapshot (default 5000)
//   PERF_WORKERS    moving workers (default 500)
//   PERF_RATE       deltas per second (default 20)
//   PERF_MEASURE_S  seconds of frame-time measurement (default 20)
//   PERF_SOAK_S     seconds of soak with heap samples after garbage collection (default 60; 3600 for the hour)
//   PERF_WIDTH/PERF_HEIGHT  viewport (default 1920×1080)
//   PERF_BASELINE   0 skips the empty-city baseline
//   PERF_MAX_FRAME_MS       p50 frame time that passes (default 33.4, i.e. 30 fps-equivalent), and 1000/it the
//                           frames a second the still map must draw (long frames included)
//   PERF_MAX_HEAP_GROWTH_MB heap growth over the soak that passes (default 20)
//   CHROMIUM        the browser (default $CHROME_BIN, then /usr/bin/chromium)
//   PERF_GL         swiftshader (default) or llvmpipe: the software WebGL (see GL_ARGS)
//
// Prints the figures and ends with "N passed, M failed".
import { existsSync, readFileSync } from 'node:fs'
import { dirname, extname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
const DIST = resolve(here, '../../services/webui/dist')
const GIS = resolve(here, '../../gis/sample/data')
const ORIGIN = 'http://wall.perf.test'
const N = Number(process.env.PERF_INCIDENTS || 5000)
const RATE = Number(process.env.PERF_RATE || 20)
const WORKERS = Number(process.env.PERF_WORKERS || 500)
const MEASURE_S = Number(process.env.PERF_MEASURE_S || 20)
const SOAK_S = Number(process.env.PERF_SOAK_S || 60)
const WIDTH = Number(process.env.PERF_WIDTH || 1920)
const HEIGHT = Number(process.env.PERF_HEIGHT || 1080)
const MAX_FRAME_MS = Number(process.env.PERF_MAX_FRAME_MS || 33.4)
const MAX_GROWTH_MB = Number(process.env.PERF_MAX_HEAP_GROWTH_MB || 20)
const EXECUTABLE = process.env.CHROMIUM || process.env.CHROME_BIN || '/usr/bin/chromium'
// The software WebGL: Chromium's own SwiftShader (default), or Mesa's llvmpipe through ANGLE's
// OpenGL ES backend on EGL (PERF_GL=llvmpipe; Debian's libegl-mesa0 and libgl1-mesa-dri), which
// rasterizes on every core with wider SIMD. Neither is the wall's GPU.
const GL = process.env.PERF_GL || 'swiftshader'
const GL_ARGS = GL === 'llvmpipe' ? ['--use-gl=angle', '--use-angle=gl-egl', '--ignore-gpu-blocklist'] : ['--disable-gpu', '--use-angle=swiftshader', '--enable-unsafe-swiftshader']

let passed = 0
let failed = 0
function check(name, ok, detail = '') {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`)
  return ok
}

// ---- synthetic incidents, placed in the sample city's grid cells --------------------------------

let seed = 42
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
const pick = (a) => a[Math.floor(rnd() * a.length)]

function cellCentres() {
  const f = join(GIS, 'grids.geojson')
  if (!existsSync(f)) return [{ lon: 120.13, lat: 32.52, town: { code: '321204001000', name: '罗塘街道' } }]
  const fc = JSON.parse(readFileSync(f, 'utf8'))
  return fc.features.map((g) => {
    const ring = g.geometry.type === 'Polygon' ? g.geometry.coordinates[0] : g.geometry.coordinates[0][0]
    const lon = ring.reduce((s, p) => s + p[0], 0) / ring.length
    const lat = ring.reduce((s, p) => s + p[1], 0) / ring.length
    const code = String(g.properties.code)
    return { lon, lat, grid: { code, name: g.properties.name, schematic: true }, town: { code: code.slice(0, 9) + '000', name: '' } }
  })
}

const CELLS = cellCentres()
const CATS = [
  ['city.street.vendor', '占道经营'],
  ['city.environment.garbage', '垃圾堆放'],
  ['city.facility.manhole', '井盖缺失破损'],
  ['traffic.congestion', '交通拥堵'],
  ['emergency.fire', '火灾'],
]
const SOURCES = ['hotline', 'grid', 'emergency', 'traffic']
const STATES = ['received', 'filed', 'dispatched', 'accepted', 'in_progress', 'handled', 'closed']
let serial = 0

function incident(now = Date.now()) {
  const c = pick(CELLS)
  const [code, name] = pick(CATS)
  const src = pick(SOURCES)
  const id = `INC-PERF-${++serial}`
  const at = new Date(now - Math.floor(rnd() * 3600e3)).toISOString()
  return {
    id,
    version: 1,
    state: pick(STATES),
    category: code,
    category_name: name,
    severity: rnd() < 0.02 ? 1 : rnd() < 0.08 ? 2 : rnd() < 0.35 ? 3 : 4,
    title: `${name} 第${serial}号`,
    source: src,
    sources: { [src]: 1 },
    event_count: rnd() < 0.15 ? 2 + Math.floor(rnd() * 6) : 1,
    location: { lon: c.lon + (rnd() - 0.5) * 0.004, lat: c.lat + (rnd() - 0.5) * 0.004 },
    place: { district: { code: '321204000000', name: '姜堰区' }, town: c.town, grid: c.grid },
    first_seen: at,
    last_seen: at,
    updated_at: at,
    task: { id: `TSK-${id}`, state: 'dispatched', department: '城市管理局', deadline: new Date(now + 86400e3).toISOString() },
  }
}

// ---- the emulated server ----------------------------------------------------------------------

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json' }

async function serve(page, { n = N, workers: nWorkers = WORKERS, rate = RATE } = {}) {
  await page.route(`${ORIGIN}/**`, async (route) => {
    const url = new URL(route.request().url())
    const p = url.pathname
    if (p === '/api/v1/auth/ws-ticket') return route.fulfill({ json: { ticket: 'perf', expires_in: 30 } })
    if (p === '/api/v1/incidents') return route.fulfill({ json: { items: [], total: 0 } })
    if (p.startsWith('/api/v1/incidents/')) return route.fulfill({ status: 404, json: { error: 'not in perf run' } })
    if (p === '/api/v1/stats/kpi') return route.fulfill({ json: kpiReport(url.searchParams.get('by') ?? '') })
    if (p === '/api/v1/stats/trend') return route.fulfill({ json: trend(url.searchParams.get('window') ?? '24h') })
    if (p === '/api/v1/wall/mode') return route.fulfill({ json: { mode: 'normal' } })
    if (p.startsWith('/api/v1/gis/layers/')) {
      const f = join(GIS, `${p.split('/').pop()}.geojson`)
      if (!existsSync(f)) return route.fulfill({ status: 404, json: { error: 'no such layer in the sample data' } })
      return route.fulfill({ body: readFileSync(f), contentType: 'application/json' })
    }
    let f = join(DIST, p)
    if (!f.startsWith(DIST) || !existsSync(f) || p === '/' || !extname(p)) f = join(DIST, 'index.html')
    return route.fulfill({ body: readFileSync(f), contentType: MIME[extname(f)] ?? 'application/octet-stream' })
  })

  const live = new Map()
  for (let i = 0; i < n; i++) {
    const inc = incident()
    live.set(inc.id, inc)
  }
  // Workers patrol around grid cells; every second each takes a step (one positions message).
  const workers = Array.from({ length: nWorkers }, (_, i) => {
    const c = pick(CELLS)
    return { id: `gw-perf-${i}`, name: `网格员${i}`, department: '城市管理局', lon: c.lon, lat: c.lat, on_duty: true, task_id: rnd() < 0.2 ? `TSK-${i}` : undefined }
  })
  const step = () => {
    const at = new Date().toISOString()
    for (const w of workers) {
      w.lon += (rnd() - 0.5) * 0.0015
      w.lat += (rnd() - 0.5) * 0.0015
      w.at = at
    }
  }
  const stats = { today: { hotline: n, grid: n >> 1, emergency: n >> 3, traffic: n >> 2 }, open: n, closed: 0, total: n }
  let seq = 0
  let timer = null
  await page.routeWebSocket(`${ORIGIN.replace('http', 'ws')}/ws`, (ws) => {
    ws.onMessage((raw) => {
      const msg = JSON.parse(String(raw))
      if (msg.op !== 'subscribe') return
      ws.send(JSON.stringify({ type: 'snapshot', channel: 'wall', seq: String(++seq), data: { incidents: [...live.values()], stats, workers, mode: { mode: 'normal' } } }))
      clearInterval(timer)
      let tick = 0
      const ids = [...live.keys()]
      timer = setInterval(() => {
        for (let k = 0; k < rate / 10; k++) {
          let inc
          if (rnd() < 0.5) {
            inc = incident(Date.now())
            inc.first_seen = inc.last_seen = inc.updated_at = new Date().toISOString()
            ids.push(inc.id)
            stats.total++
            stats.today[inc.source]++
          } else {
            const old = live.get(pick(ids))
            if (!old) continue
            inc = { ...old, version: old.version + 1, state: pick(STATES), updated_at: new Date().toISOString() }
          }
          live.set(inc.id, inc)
          ws.send(JSON.stringify({ type: 'delta', channel: 'wall', seq: String(++seq), kind: 'incident', data: inc }))
        }
        if (++tick % 10 === 0 && workers.length) {
          step()
          ws.send(JSON.stringify({ type: 'delta', channel: 'wall', seq: String(seq), kind: 'positions', data: { workers, full: false } }))
        }
      }, 100)
    })
    ws.onClose(() => clearInterval(timer))
  })
  return () => clearInterval(timer)
}

function kpiRow(key, name, total) {
  return { key, name, total, open: Math.round(total * 0.7), closed: Math.round(total * 0.3), overdue: Math.round(total * 0.02), on_time_close: 0.93, satisfaction: 0.88, mean_dispatch_s: 95 }
}
function kpiReport(by) {
  const groups = by === 'town' ? ['罗塘街道', '三水街道', '天目山街道', '梁徐街道', '溱潼镇', '张甸镇'].map((n, i) => kpiRow(`32120400${i}000`, n, 900 - i * 110)) : by === 'department' ? ['城市管理局', '公安局交警大队', '住房和城乡建设局', '应急管理局', '消防救援大队'].map((n, i) => kpiRow(n, n, 800 - i * 120)) : undefined
  return { overall: kpiRow('', '', N), by, groups }
}
function trend(window) {
  const n = window === '30d' ? 30 : 24
  const step = window === '30d' ? 86400e3 : 3600e3
  const start = Date.now() - (n - 1) * step
  return { window, buckets: Array.from({ length: n }, (_, i) => ({ start: new Date(start + i * step).toISOString(), reported: 80 + Math.round(60 * Math.sin(i / 3) + rnd() * 40), closed: 60 + Math.round(50 * Math.sin(i / 3 + 1) + rnd() * 30) })) }
}

// ---- measurement --------------------------------------------------------------------------------

async function frameTimes(page, seconds) {
  return page.evaluate(
    (ms) =>
      new Promise((done) => {
        const gaps = []
        let long = 0
        const obs = new PerformanceObserver((l) => (long += l.getEntries().length))
        try {
          obs.observe({ type: 'longtask', buffered: false })
        } catch {
          // no long-task timing
        }
        const start = performance.now()
        let last = start
        const tick = (t) => {
          gaps.push(t - last)
          last = t
          if (t - start < ms) requestAnimationFrame(tick)
          else {
            obs.disconnect()
            done({ gaps, long })
          }
        }
        requestAnimationFrame(tick)
      }),
    seconds * 1000,
  )
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN

async function heapMB(page, cdp) {
  await cdp.send('HeapProfiler.collectGarbage')
  const { usedSize } = await cdp.send('Runtime.getHeapUsage')
  const nodes = await page.evaluate(() => document.getElementsByTagName('*').length)
  return { mb: usedSize / 1048576, nodes }
}

/** Prints frame-time figures and returns the median. */
function report(label, { gaps, long }, seconds, load) {
  const sorted = [...gaps].sort((a, b) => a - b)
  const p50 = pct(sorted, 50)
  const p95 = pct(sorted, 95)
  const p99 = pct(sorted, 99)
  console.log(
    `${label}: ${seconds}s at ${WIDTH}×${HEIGHT}, ${load}: ${gaps.length} frames (${(gaps.length / seconds).toFixed(1)}/s), ` +
      `median ${p50.toFixed(1)} ms (${(1000 / p50).toFixed(1)} fps-equivalent), p95 ${p95.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${sorted.at(-1)?.toFixed(1)} ms, long tasks ${long}`,
  )
  return p50
}

/**
 * The renderer's main thread over a measurement: busy time per second of wall-clock, split into
 * JavaScript (the wall's code and MapLibre's) and the rest (style, layout, and the WebGL calls,
 * which in this GPU-less browser wait for the software rasterizer). Chrome's Performance domain
 * counts both.
 */
async function mainThread(cdp, during) {
  const read = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]))
  const a = await read()
  const t0 = performance.now()
  const result = await during()
  const b = await read()
  const secs = (performance.now() - t0) / 1000
  const script = (1000 * (b.ScriptDuration - a.ScriptDuration)) / secs
  const task = (1000 * (b.TaskDuration - a.TaskDuration)) / secs
  return { result, script, other: task - script }
}

const threadLine = (label, m) =>
  `${label}: main thread per second: JavaScript ${m.script.toFixed(0)} ms, other work ${m.other.toFixed(0)} ms (style, layout, WebGL calls waiting for the software rasterizer)`

/** Frame times with the map still, then while the mouse pans and zooms it (updates go on streaming). */
async function stillAndPanning(page, label, load) {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Performance.enable')
  const stillM = await mainThread(cdp, () => frameTimes(page, MEASURE_S))
  const still = report(`${label}, map still`, stillM.result, MEASURE_S, load)
  const stillFrames = stillM.result.gaps.length / MEASURE_S
  console.log(threadLine(`${label}, map still`, stillM))
  const box = await page.$eval('.map-canvas', (el) => {
    const r = el.getBoundingClientRect()
    return { x: r.x + r.width / 2, y: r.y + r.height / 2 }
  })
  const panM = await mainThread(cdp, async () => {
    const measuring = frameTimes(page, MEASURE_S)
    const until = Date.now() + MEASURE_S * 1000 - 500
    let dir = 1
    while (Date.now() < until) {
      await page.mouse.move(box.x, box.y)
      await page.mouse.down()
      for (let i = 1; i <= 10; i++) await page.mouse.move(box.x + dir * i * 12, box.y + dir * i * 6)
      await page.mouse.up()
      await page.mouse.wheel(0, dir * -240)
      await page.waitForTimeout(250)
      dir = -dir
    }
    return measuring
  })
  const panning = report(`${label}, panning and zooming`, panM.result, MEASURE_S, load)
  console.log(threadLine(`${label}, panning and zooming`, panM))
  await cdp.detach()
  return { still, panning, stillFrames }
}

/** A CPU profile of the page's main thread for 10 s under the load (PERF_PROFILE=file.cpuprofile): the top functions by self time are printed. */
async function profile(page, file) {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Profiler.enable')
  await cdp.send('Profiler.setSamplingInterval', { interval: 1000 })
  await cdp.send('Profiler.start')
  await page.waitForTimeout(10000)
  const { profile: prof } = await cdp.send('Profiler.stop')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(file, JSON.stringify(prof))
  const dt = new Map()
  for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0))
  const self = new Map()
  let total = 0
  for (const n of prof.nodes) {
    const us = dt.get(n.id) ?? 0
    total += us
    const cf = n.callFrame
    const key = `${cf.functionName || '(anonymous)'} ${cf.url.split('/').pop()}:${cf.lineNumber}`
    self.set(key, (self.get(key) ?? 0) + us)
  }
  console.log(`profile: ${(total / 1e6).toFixed(1)} s sampled in 10 s; top self time:`)
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${(us / 1e3).toFixed(0).padStart(6)} ms ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`)
}

async function main() {
  if (!check('built app present', existsSync(join(DIST, 'index.html')), DIST)) return
  const browser = await chromium.launch({
    executablePath: EXECUTABLE,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', ...GL_ARGS],
  })
  let stop = () => {}
  try {
    const probe = await browser.newPage()
    const renderer = await probe.evaluate(() => {
      const gl = document.createElement('canvas').getContext('webgl2')
      const ext = gl?.getExtension('WEBGL_debug_renderer_info')
      return gl ? (ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER)) : 'no WebGL 2'
    })
    await probe.close()
    console.log(`WebGL (PERF_GL=${GL}): ${renderer}`)
    // Baseline, in the same run: the same wall with an empty city (the map's base layers, the
    // panels, no incidents, no workers, no deltas), i.e. what this browser and machine can draw at all.
    let base = null
    if (process.env.PERF_BASELINE !== '0') {
      const page = await browser.newPage({ viewport: { width: WIDTH, height: HEIGHT } })
      stop = await serve(page, { n: 0, workers: 0, rate: 0 })
      await page.goto(`${ORIGIN}/wall`)
      const ready = await page
        .waitForSelector('[data-map-state="ready"]', { timeout: 120000 })
        .then(() => true)
        .catch(() => false)
      check('baseline: empty wall with its map', ready)
      await page.waitForTimeout(5000)
      base = await stillAndPanning(page, 'baseline (empty city)', 'no incidents, no workers, no deltas')
      stop()
      await page.close()
    }

    const page = await browser.newPage({ viewport: { width: WIDTH, height: HEIGHT } })
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e?.message ?? e)))
    stop = await serve(page)
    const t0 = Date.now()
    await page.goto(`${ORIGIN}/wall`)
    const shown = await page
      .waitForFunction((n) => Number(document.querySelector('[data-incidents-rendered]')?.getAttribute('data-incidents-rendered')) >= n, Math.floor(N * 0.5), { timeout: 180000, polling: 1000 })
      .then(() => true)
      .catch(() => false)
    const rendered = await page.getAttribute('[data-incidents-rendered]', 'data-incidents-rendered')
    check(`${N} incidents on the map`, shown, `rendered=${rendered} (in view) after ${((Date.now() - t0) / 1000).toFixed(1)}s`)

    const workersShown = await page
      .waitForFunction((n) => Number(document.querySelector('[data-workers-shown]')?.getAttribute('data-workers-shown')) >= n, WORKERS, { timeout: 60000, polling: 1000 })
      .then(() => true)
      .catch(() => false)
    check(`${WORKERS} moving workers on the map`, workersShown || WORKERS === 0, `shown=${await page.getAttribute('[data-workers-shown]', 'data-workers-shown')}`)

    await page.waitForTimeout(3000)
    if (process.env.PERF_PROFILE) await profile(page, process.env.PERF_PROFILE)
    const load = await stillAndPanning(page, 'under load', `${N} incidents, ${WORKERS} workers, ${RATE} deltas/s`)
    for (const k of ['still', 'panning']) {
      const what = k === 'still' ? 'map still' : 'panning and zooming'
      const vs = base ? ` (baseline ${base[k].toFixed(1)} ms, ×${(load[k] / base[k]).toFixed(2)})` : ''
      check(`${what}: median frame time ≤ ${MAX_FRAME_MS} ms (≥ ${(1000 / MAX_FRAME_MS).toFixed(0)} fps-equivalent)`, load[k] <= MAX_FRAME_MS, `median=${load[k].toFixed(1)} ms${vs}`)
    }
    // The median counts the frames between redraws; this counts the redraws' long frames too.
    const minFps = 1000 / MAX_FRAME_MS
    check(`map still: ≥ ${minFps.toFixed(0)} frames drawn a second`, load.stillFrames >= minFps, `${load.stillFrames.toFixed(1)}/s`)

    if (SOAK_S > 0) {
      const cdp = await page.context().newCDPSession(page)
      const first = await heapMB(page, cdp)
      const samples = [first]
      const every = Math.max(10, Math.floor(SOAK_S / 12))
      for (let s = every; s <= SOAK_S; s += every) {
        await page.waitForTimeout(every * 1000)
        samples.push(await heapMB(page, cdp))
      }
      const last = samples.at(-1)
      console.log(`heap after GC (MB): ${samples.map((x) => x.mb.toFixed(1)).join(' → ')}`)
      console.log(`DOM elements: ${samples.map((x) => x.nodes).join(' → ')}`)
      const growth = last.mb - first.mb
      check(`heap growth over ${SOAK_S}s ≤ ${MAX_GROWTH_MB} MB`, growth <= MAX_GROWTH_MB, `${first.mb.toFixed(1)} → ${last.mb.toFixed(1)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)})`)
      check('DOM size stays bounded', last.nodes <= first.nodes * 1.2 + 50, `${first.nodes} → ${last.nodes} elements`)
    }
    check('no page errors', errors.length === 0, errors.slice(0, 3).join(' | '))
  } finally {
    stop()
    await browser.close()
  }
}

main()
  .catch((err) => check('perf script', false, String(err?.stack ?? err)))
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`)
    process.exitCode = failed > 0 || passed === 0 ? 1 : 0
  })
