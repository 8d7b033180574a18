// Browser test of 战时 (incident command mode) on the wall, against a running citybrain with live
// data. Signs in as a dispatcher through the API, opens the wall with that token (the switch shows
// only for dispatchers and admins), PUTs /api/v1/wall/mode to emergency for a CAP warning it posts,
// and checks the red banner, the command column (resources, responders, grids, timeline), then
// switches back with the wall's own button and checks the daily view is restored exactly (map
// position and zoom, layer toggles, panels). Also: 403 for a worker, 422 for bad input.
//
//   BASE_URL, ARTIFACTS_DIR, CHROMIUM, E2E_TIMEOUT_S as for wall.mjs.
import { mkdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { ARTIFACTS, api, check, finish, launch, login, openWall, overlapProblems, postWarning, textProblems } from './wall-lib.mjs'

async function pickIncident(token) {
  // The warning just posted: it has an area and affected grids, the richest command view.
  for (let i = 0; i < 60; i++) {
    const r = await api('GET', '/api/v1/incidents?limit=200', { token })
    const items = r.body?.items ?? []
    const warn = items.find((x) => x.area && String(x.title ?? '').includes('wall-command'))
    if (warn) return warn
    await new Promise((res) => setTimeout(res, 500))
  }
  const r = await api('GET', '/api/v1/incidents?limit=200', { token })
  return (r.body?.items ?? []).find((x) => x.location && ['received', 'filed', 'dispatched'].includes(x.state)) ?? null
}

async function main() {
  const token = await login('dispatcher', 'dispatcher123')
  if (!check('dispatcher signs in through the API', !!token)) return
  const w = await postWarning('wall-command')
  check('post a CAP warning', w.status === 202, `status=${w.status}`)
  const inc = await pickIncident(token)
  if (!check('an incident to command', !!inc, inc ? `${inc.id} ${inc.title}` : '')) return

  // Validation and roles, over the API.
  const bad = await api('PUT', '/api/v1/wall/mode', { token, body: { mode: 'emergency' } })
  check('PUT mode emergency without incident_id → 422', bad.status === 422, `status=${bad.status} ${JSON.stringify(bad.body)}`)
  const workerToken = await login('worker', 'worker123')
  const forbidden = await api('PUT', '/api/v1/wall/mode', { token: workerToken, body: { mode: 'normal' } })
  check('PUT mode as a worker → 403', forbidden.status === 403, `status=${forbidden.status}`)
  await api('PUT', '/api/v1/wall/mode', { token, body: { mode: 'normal' } })

  const browser = await launch()
  try {
    const { context, page, problems, ready } = await openWall(browser, 1920, 1080, { storage: { 'citybrain.token': token } })
    check('wall live with a dispatcher signed in', ready)
    const switchShown = await page.$('[data-mode-switch]').then((el) => el !== null)
    check('the 战时 switch shows for a dispatcher', switchShown)
    // The server switches to emergency by itself for every new Ⅰ/Ⅱ incident (the simulator makes
    // some): start from normal, let the map settle at its daily view, then remember it.
    await api('PUT', '/api/v1/wall/mode', { token, body: { mode: 'normal' } })
    await page.waitForFunction(() => document.querySelector('[data-mode="normal"]') !== null, null, { timeout: 30000 }).catch(() => {})
    await page.waitForTimeout(3000)
    const before = await page.evaluate(() => ({
      mode: document.querySelector('[data-mode]')?.getAttribute('data-mode'),
      view: document.querySelector('[data-view]')?.getAttribute('data-view'),
      toggles: [...document.querySelectorAll('[data-toggle]')].map((b) => `${b.getAttribute('data-toggle')}=${b.getAttribute('aria-pressed')}`).join(','),
    }))
    mkdirSync(ARTIFACTS, { recursive: true })

    const put = await api('PUT', '/api/v1/wall/mode', { token, body: { mode: 'emergency', incident_id: inc.id, reason: 'e2e 演练' } })
    check('PUT mode emergency → 200 with the mode', put.status === 200 && put.body?.mode === 'emergency', `status=${put.status} ${JSON.stringify(put.body)}`)
    const entered = await page
      .waitForFunction(
        () =>
          document.querySelector('[data-mode="emergency"]') !== null &&
          document.querySelector('[data-command-banner]') !== null &&
          document.querySelector('[data-command-panel]') !== null,
        null,
        { timeout: 30000, polling: 300 },
      )
      .then(() => true)
      .catch(() => false)
    check('the wall enters 战时: red banner and command column', entered)
    const situation = await page
      .waitForFunction(() => document.querySelectorAll('[data-cmd-resource]').length > 0, null, { timeout: 30000, polling: 500 })
      .then(() => true)
      .catch(() => false)
    const counts = await page.evaluate(() => ({
      resources: document.querySelectorAll('[data-cmd-resource]').length,
      workers: document.querySelectorAll('[data-cmd-worker]').length,
      banner: document.querySelector('[data-command-banner]')?.textContent?.trim(),
    }))
    check('the situation lists nearby resources with distance and ETA', situation, JSON.stringify(counts))
    await page.waitForTimeout(2500) // the fly-to
    const moved = await page.getAttribute('[data-view]', 'data-view')
    check('the map refocused on the incident', moved !== before.view, `${before.view} → ${moved}`)
    await page.screenshot({ path: resolve(ARTIFACTS, 'wall-command-1920.png'), timeout: 120000 })
    const overlaps = await overlapProblems(page)
    check('战时: no overlapping or clipped text', overlaps.length === 0, overlaps.join(' | '))
    const { bad: badText } = await textProblems(page)
    check('战时: no NaN/undefined/null in the page text', badText.length === 0, badText.join(', '))

    // Back to normal with the wall's own switch.
    await page.$eval('[data-mode-switch]', (el) => el.click())
    const left = await page
      .waitForFunction(() => document.querySelector('[data-mode="normal"]') !== null && document.querySelector('[data-command-banner]') === null, null, {
        timeout: 30000,
        polling: 300,
      })
      .then(() => true)
      .catch(() => false)
    check('the switch returns the wall to normal', left)
    await page.waitForTimeout(1500)
    const after = await page.evaluate(() => ({
      view: document.querySelector('[data-view]')?.getAttribute('data-view'),
      toggles: [...document.querySelectorAll('[data-toggle]')].map((b) => `${b.getAttribute('data-toggle')}=${b.getAttribute('aria-pressed')}`).join(','),
      daily: !!document.querySelector('.rank-box')?.getBoundingClientRect().height,
    }))
    check('daily view restored exactly (map position and zoom)', after.view === before.view, `${before.view} vs ${after.view} (mode before: ${before.mode})`)
    check('layer toggles restored', after.toggles === before.toggles, `${before.toggles} vs ${after.toggles}`)
    check('daily panels back', after.daily)
    await page.screenshot({ path: resolve(ARTIFACTS, 'wall-command-restored-1920.png'), timeout: 120000 })
    const mode = await api('GET', '/api/v1/wall/mode')
    check('GET mode says normal', mode.body?.mode === 'normal', JSON.stringify(mode.body))
    check('no page errors', problems.pageErrors.length === 0, problems.pageErrors.slice(0, 3).join(' | '))
    check('no console errors', problems.consoleErrors.length === 0, problems.consoleErrors.slice(0, 3).join(' | '))
    await context.close()
  } finally {
    await api('PUT', '/api/v1/wall/mode', { token, body: { mode: 'normal' } }).catch(() => {})
    await browser.close()
  }
}

finish(main)
