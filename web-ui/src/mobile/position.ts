// On-duty position reporting, battery-sparing: watchPosition with a generous maximumAge, and a
// report to POST /api/v1/workers/position only every 30 s or after more than 50 m of movement.
// Only while the worker is on duty (an explicit toggle, which is the consent), and paused when
// the page has been hidden for more than two minutes (the phone is in a pocket with the app in
// the background: the server's position simply ages out).

import { distanceMeters } from './geo'

export const REPORT_EVERY_MS = 30_000
export const REPORT_MOVED_M = 50
export const HIDDEN_PAUSE_MS = 120_000

export interface Fix {
  lon: number
  lat: number
  accuracy: number
  at: number
}

/** Whether a new fix should be reported given the last reported one. */
export function shouldReport(last: Fix | null, next: Fix): boolean {
  if (!last) return true
  return next.at - last.at >= REPORT_EVERY_MS || distanceMeters(last, next) > REPORT_MOVED_M
}

export interface Reporter {
  stop(): void
}

/**
 * Starts watching the position; onFix gets every fix (the map's own-position dot), report the
 * ones worth sending.
 */
export function startDuty(onFix: (f: Fix) => void, report: (f: Fix) => void, onError: (msg: string) => void): Reporter {
  let watch: number | null = null
  let last: Fix | null = null
  let hiddenTimer: ReturnType<typeof setTimeout> | null = null
  let beat: ReturnType<typeof setInterval> | null = null
  let latest: Fix | null = null

  const begin = () => {
    if (watch !== null || !('geolocation' in navigator)) return
    watch = navigator.geolocation.watchPosition(
      (p) => {
        const f = { lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy, at: Date.now() }
        latest = f
        onFix(f)
        if (shouldReport(last, f)) {
          last = f
          report(f)
        }
      },
      (e) => onError(e.message || '无法获取位置'),
      { enableHighAccuracy: false, maximumAge: 30_000, timeout: 60_000 },
    )
    // A worker standing still still reports every 30 s (on duty, alive).
    beat = setInterval(() => {
      if (latest && shouldReport(last, { ...latest, at: Date.now() })) {
        last = { ...latest, at: Date.now() }
        report(last)
      }
    }, REPORT_EVERY_MS)
  }
  const pause = () => {
    if (watch !== null) navigator.geolocation.clearWatch(watch)
    if (beat !== null) clearInterval(beat)
    watch = null
    beat = null
  }
  const onVisibility = () => {
    if (document.visibilityState === 'hidden') {
      hiddenTimer = setTimeout(pause, HIDDEN_PAUSE_MS)
    } else {
      if (hiddenTimer) clearTimeout(hiddenTimer)
      hiddenTimer = null
      begin()
    }
  }
  document.addEventListener('visibilitychange', onVisibility)
  begin()
  return {
    stop() {
      document.removeEventListener('visibilitychange', onVisibility)
      if (hiddenTimer) clearTimeout(hiddenTimer)
      pause()
    },
  }
}

/** One fix now (for a report or the map), or null when none can be had. */
export function currentFix(timeoutMs = 15000): Promise<Fix | null> {
  return new Promise((resolve) => {
    if (!('geolocation' in navigator)) return resolve(null)
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy, at: Date.now() }),
      () => resolve(null),
      { enableHighAccuracy: true, maximumAge: 60_000, timeout: timeoutMs },
    )
  })
}
