// Small geometry helpers of the phone app.

/** Great-circle distance in metres (haversine). */
export function distanceMeters(a: { lon: number; lat: number }, b: { lon: number; lat: number }): number {
  const R = 6371008.8
  const rad = Math.PI / 180
  const dLat = (b.lat - a.lat) * rad
  const dLon = (b.lon - a.lon) * rad
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(s)))
}

/**
 * A link the phone's map app opens. Android opens geo: URIs in the chosen map app; iOS does not
 * know geo:, so there the Apple Maps URL is used (it opens the Maps app, not a web page).
 * Coordinates are WGS-84 (GPS), which is what geo: means.
 */
export function navigateURL(lon: number, lat: number, label: string, ua = typeof navigator === 'undefined' ? '' : navigator.userAgent): string {
  const ll = `${lat.toFixed(6)},${lon.toFixed(6)}`
  if (/iPhone|iPad|iPod/.test(ua)) return `maps://?q=${encodeURIComponent(label)}&ll=${ll}`
  return `geo:${ll}?q=${ll}(${encodeURIComponent(label)})`
}

/** "距您 350 米" style distance text. */
export function fmtDistance(m: number): string {
  if (!Number.isFinite(m)) return ''
  return m < 1000 ? `${Math.round(m)} 米` : `${(m / 1000).toFixed(1)} 公里`
}
