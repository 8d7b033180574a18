// A restart with nothing to start from, as the three front ends see it. The process keeps its
// projections in an embedded Redis: with no usable snapshot (the first start of a release that
// changes the key layout, a snapshot lost with a disk) it rebuilds them from the event log, which
// takes seconds to minutes with the city's history. Meanwhile the wall, the console and the phone
// must say 态势恢复中 with the progress — not "disconnected" — intake must go on, and each must come
// back by itself when the rebuild ends.
//
// This script runs its own citybrain (bin/citybrain, embedded broker and Redis, a fresh data
// directory) on a free port, not the shared one of run.sh: it gives it a history
// (RESTORE_REPORTS simulated reports, default 30,000: ~40,000 records of the tasks topic, a
// rebuild of several seconds), stops it, removes its snapshot and starts it again, then opens the
// pages while it rebuilds. Screenshots: restore-*.png in ARTIFACTS_DIR.
import { spawn } from 'node:child_process'
import { mkdtempSync, openSync, rmSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')
const port = await new Promise((ok, fail) => {
  const s = createServer()
  s.on('error', fail)
  s.listen(0, '127.0.0.1', () => {
    const p = s.address().port
    s.close(() => ok(p))
  })
})
// wall-lib reads BASE_URL when it is loaded: this script's own server.
process.env.BASE_URL = `http://127.0.0.1:${port}`
const { ARTIFACTS, BASE_URL, api, check, finish, launch, login, overlapProblems, textProblems, watchPage } = await import('./wall-lib.mjs')

const REPORTS = Number(process.env.RESTORE_REPORTS || 30000)
const data = mkdtempSync(join(tmpdir(), 'citybrain-restore-'))
const log = openSync(resolve(ARTIFACTS, 'citybrain-restore.log'), 'a')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Starts citybrain -target=all on the script's port and data directory. */
function start() {
  const env = { ...process.env, HTTP_ADDR: `127.0.0.1:${port}`, DATA_DIR: data, LOG_LEVEL: 'info', INGEST_RATE_PER_MINUTE: '100000000' }
  delete env.KAFKA_BROKERS // CI's are for the integration suites: this is the all-in-one mode
  delete env.REDIS_ADDR
  const p = spawn(resolve(root, 'bin/citybrain'), ['-target=all'], { env, stdio: ['ignore', log, log] })
  p.exited = new Promise((r) => p.on('exit', (code, signal) => r({ code, signal })))
  return p
}

/** Stops it as Ctrl-C does (it writes its snapshot), SIGKILL after a minute. */
async function stop(p) {
  p.kill('SIGINT')
  const t = setTimeout(() => p.kill('SIGKILL'), 60000)
  const how = await p.exited
  clearTimeout(t)
  return how
}

/** Polls path until it answers 200, up to ms; reports whether it did. */
async function until200(path, ms) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const ok = await fetch(BASE_URL + path).then((r) => r.ok).catch(() => false)
    if (ok) return true
    await sleep(250)
  }
  return false
}

/** Waits until every consumer's lag is 0 (the history is all in the tasks topic). */
async function drained(ms) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const text = await fetch(`${BASE_URL}/metrics`).then((r) => r.text()).catch(() => '')
    const lags = [...text.matchAll(/^citybrain_consumer_lag\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]))
    if (lags.length >= 3 && lags.every((l) => l === 0)) return true
    await sleep(500)
  }
  return false
}

function run(cmd, args) {
  return new Promise((ok) => {
    const p = spawn(cmd, args, { stdio: ['ignore', log, log] })
    p.on('exit', (code) => ok(code))
  })
}

async function main() {
  // 1. A history.
  let cb = start()
  try {
    if (!check('the server starts', await until200('/readyz', 120000))) return
    const t0 = Date.now()
    const code = await run(resolve(root, 'bin/simulator'), ['-url', BASE_URL, '-rate', '3000', '-count', String(REPORTS), '-workers', '32', '-quiet'])
    check(`${REPORTS} simulated reports sent`, code === 0, `exit ${code}`)
    check('the pipeline drained them', await drained(180000))
    console.log(`history made in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  } finally {
    await stop(cb)
  }
  // 2. No snapshot to start from: the next start rebuilds from the event log.
  rmSync(join(data, 'redis.snapshot'), { force: true })
  check('the snapshot is gone', !existsSync(join(data, 'redis.snapshot')))
  const browser = await launch()
  cb = start()
  try {
    const started = Date.now()
    check('the restarted server listens at once', await until200('/livez', 30000))
    const [ready, progress] = await Promise.all([
      api('GET', '/readyz'),
      api('POST', '/api/v1/auth/ws-ticket'),
    ])
    check('readiness says the projections are being rebuilt', ready.status === 503 && /being rebuilt from kafka/.test(ready.body?.checks?.consumers ?? ''), JSON.stringify(ready.body))
    check('the API answers 503 restoring with the progress', progress.status === 503 && progress.body?.code === 'restoring' && progress.body?.progress?.total > 0, JSON.stringify(progress.body))

    // The three front ends, opened together while it rebuilds.
    const wallCtx = await browser.newContext({ viewport: { width: 1920, height: 1080 }, deviceScaleFactor: 1, locale: 'zh-CN' })
    const wall = await wallCtx.newPage()
    const wallProblems = watchPage(wall)
    const consoleCtx = await browser.newContext({ viewport: { width: 1600, height: 900 }, deviceScaleFactor: 1, locale: 'zh-CN' })
    const con = await consoleCtx.newPage()
    const phoneCtx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'zh-CN' })
    const phone = await phoneCtx.newPage()
    let wallHeader = ''
    let wallPanel = { text: '', pct: '' }
    let phoneBanner = ''
    const seen = await Promise.all([
      (async () => {
        await wall.goto(`${BASE_URL}/wall`, { waitUntil: 'domcontentloaded' })
        const ok = await wall.waitForSelector('[data-restoring]', { timeout: 30000 }).then(() => true).catch(() => false)
        // Read at once what lasts only as long as the rebuild (it may end while the others load).
        if (ok) {
          wallHeader = await wall.$eval('.hd-conn', (el) => el.innerText).catch(() => '')
          wallPanel = await wall.$eval('[data-restoring]', (el) => ({ text: el.innerText, pct: el.getAttribute('data-percent') })).catch(() => wallPanel)
          await wall.screenshot({ path: resolve(ARTIFACTS, 'restore-wall.png') })
        }
        return ok
      })(),
      (async () => {
        await con.goto(`${BASE_URL}/console`, { waitUntil: 'domcontentloaded' })
        await con.fill('[data-testid="login-user"]', 'dispatcher', { timeout: 30000 })
        await con.fill('[data-testid="login-pass"]', 'dispatcher123')
        await con.click('[data-testid="login-submit"]')
        return con.waitForSelector('.qbody [data-restoring]', { timeout: 30000 }).then(() => true).catch(() => false)
      })(),
      (async () => {
        await phone.goto(`${BASE_URL}/m/`, { waitUntil: 'domcontentloaded' })
        await phone.fill('[data-testid="login-user"]', 'worker', { timeout: 30000 })
        await phone.fill('[data-testid="login-pass"]', 'worker123')
        await phone.tap('[data-testid="login-submit"]')
        const ok = await phone.waitForSelector('[data-testid="conn-banner"][data-restoring="yes"]', { timeout: 30000 }).then(() => true).catch(() => false)
        if (ok) {
          phoneBanner = await phone.$eval('[data-testid="conn-banner"]', (el) => el.innerText).catch(() => '')
          await phone.screenshot({ path: resolve(ARTIFACTS, 'restore-phone.png') })
        }
        return ok
      })(),
    ])
    const still = (await api('GET', '/readyz')).status === 503
    if (!seen.every(Boolean) && !still) {
      check('the rebuild lasted long enough to be seen', false, `it ended ${((Date.now() - started) / 1000).toFixed(1)} s after the start: raise RESTORE_REPORTS`)
    }
    check('the wall shows 态势数据恢复中 with the progress', seen[0])
    if (seen[0]) {
      const panel = wallPanel
      check('the panel says what is happening and how far', panel.text.includes('态势数据恢复中') && panel.text.includes('各渠道上报照常受理') && /\d+%/.test(panel.text) && panel.pct !== '', JSON.stringify(panel))
      check('the header says 态势恢复中, not 连接中断', wallHeader.includes('态势恢复中') && !wallHeader.includes('连接中断'), wallHeader.replace(/\s+/g, ' '))
      const { bad } = await textProblems(wall)
      check('no placeholder text on the restoring wall', bad.length === 0, bad.join(', '))
      const overlaps = await overlapProblems(wall)
      check('nothing overlaps on the restoring wall', overlaps.length === 0, overlaps.join('; '))
      // The time left, once two readings of the progress are a second or more apart.
      const eta = await wall
        .waitForFunction(() => document.querySelector('[data-eta]')?.textContent || (document.querySelector('[data-restoring]') ? '' : 'ended'), null, { timeout: 8000 })
        .then((h) => h.jsonValue())
        .catch(() => '')
      if (eta === 'ended') console.log('(the rebuild ended before the panel could tell the time left)')
      else check('the panel tells the time left', /预计还需约 \d+/.test(eta), eta)
      // In English too (the header's language button), then back — if the rebuild still runs.
      await wall.click('.hd-lang')
      const en = await wall
        .waitForFunction(
          () => (document.querySelector('[data-restoring]') ? document.querySelector('[data-restoring]').textContent.includes('Restoring the situation') && 'shown' : 'ended'),
          null,
          { timeout: 5000 },
        )
        .then((h) => h.jsonValue())
        .catch(() => '')
      if (en === 'ended') console.log('(the rebuild ended before the panel could be seen in English)')
      else {
        if (en) await wall.screenshot({ path: resolve(ARTIFACTS, 'restore-wall-en.png') })
        const enText = en ? await wall.$eval('[data-restoring]', (el) => el.innerText).catch(() => '') : ''
        check('the panel in English', en === 'shown' && /records restored|Counting the records/.test(enText), enText.replace(/\s+/g, ' '))
      }
      await wall.click('.hd-lang')
    }
    check('the console shows the progress in place of its queue', seen[1])
    if (seen[1]) await con.screenshot({ path: resolve(ARTIFACTS, 'restore-console.png') })
    check('the phone says the system is restoring', seen[2])
    if (seen[2]) {
      check('the phone banner names the restore, not a lost connection', phoneBanner.includes('正在恢复数据') && !phoneBanner.includes('中断'), phoneBanner)
    }
    // Intake goes on meanwhile.
    const tag = `GD-RESTORE-${Date.now()}`
    const token = await login('dispatcher', 'dispatcher123')
    const ticket = await api('POST', '/api/v1/ingest/hotline', {
      token,
      body: { ticket_no: tag, appeal_type: '投诉', category: '物业管理', content: '恢复期间受理的工单', address: '三水街道', lon: 120.12, lat: 32.52 },
    })
    const during = (await api('GET', '/readyz')).status === 503
    check('a 12345 ticket is accepted during the rebuild', ticket.status === 202, `${ticket.status} ${JSON.stringify(ticket.body)} (still rebuilding: ${during})`)

    // Each comes back by itself.
    const readyAgain = await until200('/readyz', 120000)
    const readyAt = (Date.now() - started) / 1000
    const gone = await wall.waitForSelector('[data-restoring]', { state: 'detached', timeout: 60000 }).then(() => true).catch(() => false)
    const goneAt = (Date.now() - started) / 1000
    check('the rebuild ends and the wall drops its panel', readyAgain && gone, `ready ${readyAt.toFixed(1)} s, panel gone ${goneAt.toFixed(1)} s after the start`)
    const back = await wall
      .waitForFunction(
        () =>
          document.querySelector('[data-restoring]') === null &&
          document.querySelector('[data-live="yes"]') !== null &&
          Number(document.querySelector('[data-incidents-rendered]')?.getAttribute('data-incidents-rendered') ?? 0) > 0,
        null,
        { timeout: 120000, polling: 500 },
      )
      .then(() => true)
      .catch(() => false)
    check('the wall comes back live with the incidents by itself', back, `${((Date.now() - started) / 1000).toFixed(1)} s after the start`)
    if (back) {
      await wall.waitForSelector('[data-map-state="ready"]', { timeout: 60000 }).catch(() => undefined)
      await sleep(1500)
      await wall.screenshot({ path: resolve(ARTIFACTS, 'restore-wall-after.png') })
    }
    const conBack = await con.waitForSelector('.qbody [data-restoring]', { state: 'detached', timeout: 60000 }).then(() => true).catch(() => false)
    const rows = await con.waitForFunction(() => document.querySelectorAll('[data-testid="queue-row"]').length > 0, null, { timeout: 60000 }).then(() => true).catch(() => false)
    check('the console comes back with its queue', conBack && rows)
    if (conBack) await con.screenshot({ path: resolve(ARTIFACTS, 'restore-console-after.png') })
    const phoneBack = await phone.waitForSelector('[data-testid="conn-banner"]', { state: 'detached', timeout: 60000 }).then(() => true).catch(() => false)
    check('the phone comes back live', phoneBack)
    check('no script errors on the wall', wallProblems.pageErrors.length === 0, wallProblems.pageErrors.join('; '))
    for (const c of [wallCtx, consoleCtx, phoneCtx]) await c.close()
  } finally {
    await browser.close()
    await stop(cb)
    rmSync(data, { recursive: true, force: true })
  }
}

finish(main)
