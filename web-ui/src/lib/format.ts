// Labels and formatting for the UI. Every function here returns display text and never
// "NaN", "undefined" or "null": missing or malformed input becomes the placeholder DASH.

import type { Incident, ResourceKind, Source } from './types'

/** What the UI shows where a value is missing. */
export const DASH = '—'

/** The city's time zone: the wall shows local time whatever the machine's zone is. */
export const CITY_TZ = 'Asia/Shanghai'

/** A finite number, or null. Accepts numeric strings (some JSON encoders quote int64). */
export function num(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v)
    return Number.isFinite(n) ? n : null
  }
  return null
}

/** An integer count with thousands separators, or DASH. */
export function fmtInt(v: unknown): string {
  const n = num(v)
  return n === null ? DASH : Math.round(n).toLocaleString('zh-CN')
}

/** A ratio 0…1 as a percentage with one decimal, or DASH when the denominator is 0/missing. */
export function fmtPercent(part: unknown, whole: unknown): string {
  const p = num(part)
  const w = num(whole)
  if (p === null || w === null || w <= 0) return DASH
  return `${((p / w) * 100).toFixed(1)}%`
}

/** Non-empty text, or the fallback. */
export function text(v: unknown, fallback = DASH): string {
  if (typeof v === 'string') {
    const t = v.trim()
    return t === '' || t === 'undefined' || t === 'null' ? fallback : t
  }
  if (typeof v === 'number' && Number.isFinite(v)) return String(v)
  return fallback
}

/** Times before this are "not set" (Go encodes a zero time.Time as 0001-01-01T00:00:00Z). */
const EARLIEST = Date.UTC(2000, 0, 1)

/** Milliseconds since the epoch of an RFC 3339 time, or null (also for zero/unset times). */
export function parseTime(v: unknown): number | null {
  if (typeof v !== 'string' || v === '') return null
  const t = Date.parse(v)
  return Number.isFinite(t) && t >= EARLIEST ? t : null
}

const timeFmt = new Intl.DateTimeFormat('zh-CN', {
  timeZone: CITY_TZ,
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
})
const dateTimeFmt = new Intl.DateTimeFormat('zh-CN', {
  timeZone: CITY_TZ,
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hour12: false,
})
const dateFmt = new Intl.DateTimeFormat('zh-CN', {
  timeZone: CITY_TZ,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  weekday: 'long',
})

/** HH:mm:ss in city time, or DASH. */
export function fmtClock(v: unknown): string {
  const t = typeof v === 'number' ? v : parseTime(v)
  return t === null || !Number.isFinite(t) ? DASH : timeFmt.format(t)
}

/** MM-dd HH:mm in city time, or DASH. */
export function fmtDateTime(v: unknown): string {
  const t = typeof v === 'number' ? v : parseTime(v)
  if (t === null || !Number.isFinite(t)) return DASH
  const parts = Object.fromEntries(dateTimeFmt.formatToParts(t).map((p) => [p.type, p.value]))
  return `${parts.month ?? ''}-${parts.day ?? ''} ${parts.hour ?? ''}:${parts.minute ?? ''}`
}

/** "2026年11月22日 星期日" in city time. */
export function fmtDate(ms: number): string {
  return Number.isFinite(ms) ? dateFmt.format(ms) : DASH
}

/** A duration in seconds as short Chinese text ("12秒", "3分钟", "2小时"). */
export function fmtAge(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return DASH
  const s = Math.max(0, Math.floor(seconds))
  if (s < 60) return `${s}秒`
  if (s < 3600) return `${Math.floor(s / 60)}分钟`
  if (s < 86400) return `${Math.floor(s / 3600)}小时`
  return `${Math.floor(s / 86400)}天`
}

export interface SeverityInfo {
  level: 1 | 2 | 3 | 4
  roman: string
  name: string
  color: string
}

/** The four levels of 突发事件分级 and the national warning colours. */
export const SEVERITIES: readonly SeverityInfo[] = [
  { level: 1, roman: 'Ⅰ', name: '特别重大', color: '#ff3b3b' },
  { level: 2, roman: 'Ⅱ', name: '重大', color: '#ff8a1f' },
  { level: 3, roman: 'Ⅲ', name: '较大', color: '#ffd21f' },
  { level: 4, roman: 'Ⅳ', name: '一般', color: '#2f9bff' },
]

/** Severity 1…4, defaulting to 4 (一般) for missing or out-of-range values. */
export function severityLevel(v: unknown): 1 | 2 | 3 | 4 {
  const n = num(v)
  if (n === null) return 4
  const r = Math.round(n)
  return r <= 1 ? 1 : r >= 4 ? 4 : (r as 2 | 3)
}

export function severity(v: unknown): SeverityInfo {
  return SEVERITIES[severityLevel(v) - 1] ?? (SEVERITIES[3] as SeverityInfo)
}

export interface SourceInfo {
  key: Source
  short: string
  name: string
  color: string
}

export const SOURCE_INFO: Record<Source, SourceInfo> = {
  hotline: { key: 'hotline', short: '12345', name: '12345热线', color: '#27d3ff' },
  grid: { key: 'grid', short: '网格', name: '网格上报', color: '#35e0a1' },
  emergency: { key: 'emergency', short: '应急', name: '应急联动', color: '#ff6a5c' },
  traffic: { key: 'traffic', short: '交通', name: '交通事件', color: '#ffc23d' },
}

/** Display name of a source code; unknown codes are shown as they are. */
export function sourceName(v: unknown): string {
  if (typeof v === 'string' && v in SOURCE_INFO) return SOURCE_INFO[v as Source].name
  return text(v, '其他')
}

export function sourceShort(v: unknown): string {
  if (typeof v === 'string' && v in SOURCE_INFO) return SOURCE_INFO[v as Source].short
  return text(v, '其他')
}

/** Case states (GB/T 30428 loop and the 12345 workflow) and their Chinese labels. */
export const STATE_LABELS: Record<string, string> = {
  received: '已接收',
  filed: '已立案',
  rejected: '不予立案',
  dispatched: '已派遣',
  accepted: '已接单',
  in_progress: '处置中',
  suspended: '挂账',
  extension_requested: '申请延期',
  handled: '已处置',
  verified: '已核查',
  closed: '已结案',
  visited: '已回访',
  rated: '已评价',
  returned: '退单',
  reopened: '返工',
  merged: '已合并',
}

export function stateName(v: unknown): string {
  if (typeof v === 'string' && v in STATE_LABELS) return STATE_LABELS[v] as string
  return text(v, '未知')
}

/** States after which a case no longer needs action on the wall. */
const DONE_STATES = new Set(['closed', 'visited', 'rated', 'merged', 'rejected'])

/** Whether an incident still needs handling (anything before 结案). */
export function isOpen(inc: Pick<Incident, 'state'>): boolean {
  return !(typeof inc.state === 'string' && DONE_STATES.has(inc.state))
}

const ROLE_LABELS: Record<string, string> = {
  system: '系统',
  dispatcher: '派遣员',
  worker: '网格员',
  admin: '管理员',
  viewer: '值班员',
  citizen: '市民',
}

/** Who acted, by role only (the wall never shows a person's id). */
export function roleName(v: unknown): string {
  if (typeof v === 'string' && v in ROLE_LABELS) return ROLE_LABELS[v] as string
  return '系统'
}

export interface ResourceKindInfo {
  kind: ResourceKind
  name: string
  color: string
  /** Shown only when zoomed in beyond the district view (many of them). */
  detail: boolean
}

export const RESOURCE_KINDS: readonly ResourceKindInfo[] = [
  { kind: 'fire_station', name: '消防站', color: '#ff5a4f', detail: false },
  { kind: 'hospital', name: '医院', color: '#ffffff', detail: false },
  { kind: 'police', name: '派出所', color: '#4f8cff', detail: false },
  { kind: 'shelter', name: '应急避难场所', color: '#3ddc84', detail: false },
  { kind: 'water_sensor', name: '水位监测', color: '#36c6f4', detail: true },
  { kind: 'smoke_sensor', name: '烟感监测', color: '#c07bff', detail: true },
  { kind: 'camera', name: '视频监控', color: '#8aa4c0', detail: true },
]

/** The incident's town name, or 未定位 when the report could not be placed. */
export function townName(inc: Incident): string {
  return text(inc.place?.town?.name, '未定位')
}

const CITY_PREFIX = /^(江苏省)?(泰州市)?姜堰区\s*/

/** The title without the city prefix every local address starts with (the wall is the city's). */
export function shortTitle(inc: Incident): string {
  const t = text(inc.title, text(inc.category_name, '事件'))
  const short = t.replace(CITY_PREFIX, '')
  return short === '' ? t : short
}

/** "三水街道 · 某某社区" as far as known. */
export function placeLine(inc: Incident): string {
  const parts = [inc.place?.town?.name, inc.place?.village?.name]
    .map((p) => text(p, ''))
    .filter((p) => p !== '')
  return parts.length ? parts.join(' · ') : text(inc.address)
}
