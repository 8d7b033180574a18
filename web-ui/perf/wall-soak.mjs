// The wall's soak against a running system: `make run` (every service in one process, the
// simulator feeding it) and this script, which opens /wall in headless Chromium and keeps it open
// for SOAK_S seconds, sampling every SOAK_EVERY_S: the page's JS heap after a forced garbage
// collection, its DOM size, how many incidents and workers the wall shows, and the server's
// resident memory (from /metrics). Not a CI test (an hour long): run it by hand.
//
//   BASE_URL        the running system (default http://localhost:8080)
//   SOAK_S          seconds (default 3600)
//   SOAK_EVERY_S    seconds between samples (default 300)
//   SOAK_WARMUP_S   seconds after which the first sample is the reference (default 120)
//   PERF_MAX_HEAP_GROWTH_MB heap growth from the reference to the end that passes (default 20)
//   CHROMIUM        the browser (default $CHROME_BIN, then /usr/bin/chromium)
//
// A live city's wall legitimately holds more when the city has more open incidents; the samples
// print the count next to the heap, and at the end a second wall opened on the same city (the same
// data without the hour behind it) is the control the soaked one is compared with. Ends with
// "N passed, M failed".
import { BASE_URL, check, launch, result } from '../e2e/wall-lib.mjs'

const SOAK_S = Number(process.env.SOAK_S || 3600)
const EVERY_S = Number(process.env.SOAK_EVERY_S || 300)
const WARMUP_S = Number(process.env.SOAK_WARMUP_S || 120)
const MAX_GROWTH_MB = Number(process.env.PERF_MAX_HEAP_GROWTH_MB || 20)

/** The server's resident memory in MB, from its Prometheus metrics (NaN when not available). */
async function serverRSS() {
  try {
    const text = await (await fetch(`${BASE_URL}/metrics`)).text()
    const m = text.match(/^process_resident_memory_bytes\s+(\S+)/m)
    return m ? Number(m[1]) / 1048576 : NaN
  } catch {
    return NaN
  }
}

async function sample(page, cdp, t0) {
  await cdp.send('HeapProfiler.collectGarbage')
  const { usedSize } = await cdp.send('Runtime.getHeapUsage')
  const dom = await page.evaluate(() => ({
    nodes: document.getElementsByTagName('*').length,
    incidents: Number(document.querySelector('[data-incidents-rendered]')?.getAttribute('data-incidents-rendered') ?? NaN),
    workers: Number(document.querySelector('[data-workers-shown]')?.getAttribute('data-workers-shown') ?? NaN),
    live: document.querySelector('[data-live]')?.getAttribute('data-live') ?? '',
  }))
  const s = { t: Math.round((Date.now() - t0) / 1000), mb: usedSize / 1048576, server: await serverRSS(), ...dom }
  console.log(
    `t=${String(s.t).padStart(5)}s heap ${s.mb.toFixed(1)} MB, DOM ${s.nodes}, incidents drawn ${s.incidents}, workers ${s.workers}` +
      `, live ${s.live}, server RSS ${s.server.toFixed(0)} MB`,
  )
  return s
}

async function main() {
  const browser = await launch()
  try {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } })
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e?.message ?? e)))
    const t0 = Date.now()
    await page.goto(`${BASE_URL}/wall`)
    const live = await page
      .waitForFunction(() => Number(document.querySelector('[data-incidents-rendered]')?.getAttribute('data-incidents-rendered')) > 0, null, { timeout: 180000, polling: 1000 })
      .then(() => true)
      .catch(() => false)
    if (!check('the wall shows live incidents', live, `after ${((Date.now() - t0) / 1000).toFixed(1)}s`)) return
    const cdp = await page.context().newCDPSession(page)
    await page.waitForTimeout(Math.max(0, WARMUP_S * 1000 - (Date.now() - t0)))
    const samples = [await sample(page, cdp, t0)]
    const end = t0 + SOAK_S * 1000
    while (Date.now() < end) {
      await page.waitForTimeout(Math.min(EVERY_S * 1000, Math.max(1000, end - Date.now())))
      samples.push(await sample(page, cdp, t0))
    }
    const first = samples[0]
    const last = samples.at(-1)
    const peak = Math.max(...samples.map((s) => s.mb))
    const growth = last.mb - first.mb
    console.log(`heap after GC (MB): ${samples.map((s) => s.mb.toFixed(1)).join(' → ')} (peak ${peak.toFixed(1)})`)
    console.log(`server RSS (MB): ${samples.map((s) => s.server.toFixed(0)).join(' → ')}`)
    // The control: a wall opened now on the same city holds the same data without the hour behind
    // it. What the soaked wall holds above that is what the hour left behind.
    const fresh = await browser.newPage({ viewport: { width: 1920, height: 1080 } })
    await fresh.goto(`${BASE_URL}/wall`)
    await fresh
      .waitForFunction((n) => Number(document.querySelector('[data-incidents-rendered]')?.getAttribute('data-incidents-rendered')) >= n, Math.floor(last.incidents * 0.95), { timeout: 180000, polling: 1000 })
      .catch(() => {})
    await fresh.waitForTimeout(Math.min(WARMUP_S, 60) * 1000)
    const control = await sample(fresh, await fresh.context().newCDPSession(fresh), t0)
    const soaked = await sample(page, cdp, t0)
    console.log(`control: a wall opened now on the same city: heap ${control.mb.toFixed(1)} MB with ${control.incidents} incidents drawn; the soaked wall ${soaked.mb.toFixed(1)} MB with ${soaked.incidents}`)
    check(
      `the soaked wall holds no more than a fresh one + ${MAX_GROWTH_MB} MB`,
      soaked.mb <= control.mb + MAX_GROWTH_MB,
      `${soaked.mb.toFixed(1)} MB after ${soaked.t}s against ${control.mb.toFixed(1)} MB fresh (${soaked.mb - control.mb >= 0 ? '+' : ''}${(soaked.mb - control.mb).toFixed(1)})`,
    )
    check(
      `heap growth from t=${first.t}s to t=${last.t}s ≤ ${MAX_GROWTH_MB} MB`,
      growth <= MAX_GROWTH_MB,
      `${first.mb.toFixed(1)} → ${last.mb.toFixed(1)} MB (${growth >= 0 ? '+' : ''}${growth.toFixed(1)}) with ${first.incidents} → ${last.incidents} incidents drawn`,
    )
    check('DOM size stays bounded', last.nodes <= first.nodes * 1.2 + 50, `${first.nodes} → ${last.nodes} elements`)
    check('still live at the end', last.incidents > 0 && last.live === 'yes', `incidents drawn ${last.incidents}, live ${last.live}`)
    check('no page errors', errors.length === 0, errors.slice(0, 3).join(' | '))
  } finally {
    await browser.close()
  }
}

main()
  .catch((err) => check('soak script', false, String(err?.stack ?? err)))
  .finally(() => {
    console.log(`${result.passed} passed, ${result.failed} failed`)
    process.exitCode = result.failed > 0 || result.passed === 0 ? 1 : 0
  })
