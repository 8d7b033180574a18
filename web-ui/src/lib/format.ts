// Labels and formatting for the UI. Every function here returns display text and never
// "NaN", "undefined" or "null": missing or malformed input becomes the placeholder DASH.

import { englishCategory } from './categories'
import { hasMessage, locale, t } from './i18n'
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

function formatters(tag: string) {
  return {
    time: new Intl.DateTimeFormat(tag, { timeZone: CITY_TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }),
    dateTime: new Intl.DateTimeFormat(tag, { timeZone: CITY_TZ, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false }),
    date: new Intl.DateTimeFormat(tag, { timeZone: CITY_TZ, year: 'numeric', month: tag === 'zh-CN' ? '2-digit' : 'short', day: '2-digit', weekday: 'long' }),
  }
}
const FORMATS = { zh: formatters('zh-CN'), en: formatters('en-GB') }
const fmts = () => FORMATS[locale.value]

/** HH:mm:ss in city time, or DASH. */
export function fmtClock(v: unknown): string {
  const ms = typeof v === 'number' ? v : parseTime(v)
  return ms === null || !Number.isFinite(ms) ? DASH : fmts().time.format(ms)
}

/** MM-dd HH:mm in city time, or DASH. */
export function fmtDateTime(v: unknown): string {
  const ms = typeof v === 'number' ? v : parseTime(v)
  if (ms === null || !Number.isFinite(ms)) return DASH
  const parts = Object.fromEntries(fmts().dateTime.formatToParts(ms).map((p) => [p.type, p.value]))
  return `${parts.month ?? ''}-${parts.day ?? ''} ${parts.hour ?? ''}:${parts.minute ?? ''}`
}

/** "2026年11月22日星期日" (or "Sunday, 22 Nov 2026") in city time. */
export function fmtDate(ms: number): string {
  return Number.isFinite(ms) ? fmts().date.format(ms) : DASH
}

/** A duration in seconds as short text ("12秒", "3分钟", "2小时"). */
export function fmtAge(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return DASH
  const s = Math.max(0, Math.floor(seconds))
  if (s < 60) return t('age.s', { n: s })
  if (s < 3600) return t('age.m', { n: Math.floor(s / 60) })
  if (s < 86400) return t('age.h', { n: Math.floor(s / 3600) })
  return t('age.d', { n: Math.floor(s / 86400) })
}

export interface SeverityInfo {
  level: 1 | 2 | 3 | 4
  roman: string
  /** 特别重大 … 一般 (in the current language). */
  readonly name: string
  /** "Ⅰ级" / "Level Ⅰ". */
  readonly label: string
  color: string
}

function sev(level: 1 | 2 | 3 | 4, roman: string, color: string): SeverityInfo {
  return {
    level,
    roman,
    color,
    get name() {
      return t(`sev.${level}`)
    },
    get label() {
      return t('sev.level', { r: roman })
    },
  }
}

/** The four levels of 突发事件分级 and the national warning colours. */
export const SEVERITIES: readonly SeverityInfo[] = [
  sev(1, 'Ⅰ', '#ff3b3b'),
  sev(2, 'Ⅱ', '#ff8a1f'),
  sev(3, 'Ⅲ', '#ffd21f'),
  sev(4, 'Ⅳ', '#2f9bff'),
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
  readonly short: string
  readonly name: string
  color: string
}

function src(key: Source, color: string): SourceInfo {
  return {
    key,
    color,
    get name() {
      return t(`src.${key}`)
    },
    get short() {
      return t(`src.${key}.short`)
    },
  }
}

export const SOURCE_INFO: Record<Source, SourceInfo> = {
  hotline: src('hotline', '#27d3ff'),
  grid: src('grid', '#35e0a1'),
  emergency: src('emergency', '#ff6a5c'),
  traffic: src('traffic', '#ffc23d'),
}

/** Display name of a source code; unknown codes are shown as they are. */
export function sourceName(v: unknown): string {
  if (typeof v === 'string' && v in SOURCE_INFO) return SOURCE_INFO[v as Source].name
  return text(v, t('src.other'))
}

export function sourceShort(v: unknown): string {
  if (typeof v === 'string' && v in SOURCE_INFO) return SOURCE_INFO[v as Source].short
  return text(v, t('src.other'))
}

/** The label of a case state (GB/T 30428 loop and the 12345 workflow); unknown codes as they are. */
export function stateName(v: unknown): string {
  const key = `state.${String(v)}`
  if (typeof v === 'string' && hasMessage(key)) return t(key)
  return text(v, t('state.unknown'))
}

/** States after which a case no longer needs action on the wall. */
const DONE_STATES = new Set(['closed', 'visited', 'rated', 'merged', 'rejected'])

/** Whether an incident still needs handling (anything before 结案). */
export function isOpen(inc: Pick<Incident, 'state'>): boolean {
  return !(typeof inc.state === 'string' && DONE_STATES.has(inc.state))
}

/** Who acted, by role only (the wall never shows a person's id). */
export function roleName(v: unknown): string {
  const key = `role.${String(v)}`
  if (typeof v === 'string' && hasMessage(key)) return t(key)
  return t('role.system')
}

export interface ResourceKindInfo {
  kind: ResourceKind
  readonly name: string
  color: string
  /** Shown only when zoomed in beyond the district view (many of them). */
  detail: boolean
}

function res(kind: ResourceKind, color: string, detail: boolean): ResourceKindInfo {
  return {
    kind,
    color,
    detail,
    get name() {
      return t(`res.${kind}`)
    },
  }
}

export const RESOURCE_KINDS: readonly ResourceKindInfo[] = [
  res('fire_station', '#ff5a4f', false),
  res('hospital', '#ffffff', false),
  res('police', '#4f8cff', false),
  res('shelter', '#3ddc84', false),
  res('water_sensor', '#36c6f4', true),
  res('smoke_sensor', '#c07bff', true),
  res('camera', '#8aa4c0', true),
]

/** The incident's category name, or 未分类. */
export function categoryName(inc: Incident): string {
  if (locale.value === 'en') {
    const en = englishCategory(inc.category)
    if (en) return en
  }
  return text(inc.category_name, text(inc.category, t('cat.none')))
}

/** The incident's town name, or 未定位 when the report could not be placed. */
export function townName(inc: Incident): string {
  return text(inc.place?.town?.name, t('place.unplaced'))
}

const CITY_PREFIX = /^(江苏省)?(泰州市)?姜堰区\s*/

/** The title without the city prefix every local address starts with (the wall is the city's). */
export function shortTitle(inc: Incident): string {
  const title = text(inc.title, text(inc.category_name, t('incident.generic')))
  const short = title.replace(CITY_PREFIX, '')
  return short === '' ? title : short
}

/** "三水街道 · 某某社区" as far as known. */
export function placeLine(inc: Incident): string {
  const parts = [inc.place?.town?.name, inc.place?.village?.name]
    .map((p) => text(p, ''))
    .filter((p) => p !== '')
  return parts.length ? parts.join(' · ') : text(inc.address)
}
