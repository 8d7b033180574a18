// Incident symbols for the zoomed-in map: a disc in the severity colour with one character for the
// kind of problem (火 fire, 医 medical, 交 traffic …). They are drawn on a canvas with the system's
// Chinese font and handed to MapLibre with addImage, so no sprite or glyph server is needed.

import type { Map as MlMap } from 'maplibre-gl'
import { SEVERITIES } from '../lib/format'
import type { MessageKey } from '../lib/i18n'

/** Category code prefixes and their character, most specific first. */
const GLYPHS: [string, string][] = [
  ['emergency.fire', '火'],
  ['emergency.medical', '医'],
  ['emergency.public_security', '警'],
  ['emergency.gas_leak', '气'],
  ['emergency.flood', '涝'],
  ['emergency.weather', '灾'],
  ['emergency.geo', '灾'],
  ['emergency.', '险'],
  ['traffic.accident', '事'],
  ['traffic.', '交'],
  ['city.environment.garbage', '垃'],
  ['city.environment.', '环'],
  ['city.construction.', '建'],
  ['city.component.', '设'],
  ['city.', '城'],
  ['service.', '民'],
]
const OTHER = '其'

/** The character for a category code. */
export function glyphFor(category: unknown): string {
  if (typeof category !== 'string') return OTHER
  for (const [prefix, g] of GLYPHS) if (category === prefix || category.startsWith(prefix)) return g
  return OTHER
}

/** Every character in use. */
export const ALL_GLYPHS = [...new Set([...GLYPHS.map(([, g]) => g), OTHER])]

/** What each character stands for (i18n keys), in legend order. */
export const GLYPH_LEGEND: [string, MessageKey][] = [
  ['火', 'glyph.fire'],
  ['医', 'glyph.medical'],
  ['警', 'glyph.police'],
  ['气', 'glyph.gas'],
  ['涝', 'glyph.flood'],
  ['灾', 'glyph.disaster'],
  ['险', 'glyph.hazard'],
  ['事', 'glyph.accident'],
  ['交', 'glyph.traffic'],
  ['垃', 'glyph.garbage'],
  ['环', 'glyph.environment'],
  ['建', 'glyph.construction'],
  ['设', 'glyph.facility'],
  ['城', 'glyph.city'],
  ['民', 'glyph.service'],
  ['其', 'glyph.other'],
]

/** The image name of a glyph at a severity (matches the style's icon-image expression). */
export function iconName(glyph: string, severity: number): string {
  return `inc-${glyph}-${severity}`
}

/** Design size of an icon in CSS px. */
export const ICON_PX = 26

const FONT = '"Microsoft YaHei","PingFang SC","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif'

/** Adds every glyph × severity image to the map, rendered for pixelRatio (screen px per CSS px). */
export function addIncidentIcons(map: MlMap, pixelRatio: number): void {
  const px = Math.round(ICON_PX * pixelRatio)
  const canvas = document.createElement('canvas')
  canvas.width = px
  canvas.height = px
  const ctx = canvas.getContext('2d', { willReadFrequently: true })
  if (!ctx) return
  for (const sev of SEVERITIES) {
    for (const g of ALL_GLYPHS) {
      const name = iconName(g, sev.level)
      ctx.clearRect(0, 0, px, px)
      const r = px / 2
      ctx.beginPath()
      ctx.arc(r, r, r - pixelRatio * 1.5, 0, Math.PI * 2)
      ctx.fillStyle = sev.color
      ctx.fill()
      ctx.lineWidth = pixelRatio * 1.5
      ctx.strokeStyle = sev.level <= 2 ? '#ffffff' : 'rgba(3,13,28,0.9)'
      ctx.stroke()
      ctx.fillStyle = sev.level === 3 ? '#1a1400' : '#ffffff'
      ctx.font = `bold ${Math.round(px * 0.56)}px ${FONT}`
      ctx.textAlign = 'center'
      ctx.textBaseline = 'middle'
      ctx.fillText(g, r, r + px * 0.03)
      const img = ctx.getImageData(0, 0, px, px)
      if (map.hasImage(name)) map.updateImage(name, img)
      else map.addImage(name, img, { pixelRatio })
    }
  }
}

/** Design height of a report-count badge in CSS px. */
export const BADGE_PX = 16

/**
 * Adds the report-count badges "badge-2" … "badge-9" and "badge-9+" (fused incidents): a small
 * orange pill with the number, drawn on a canvas like the glyph icons (no glyph server needed).
 */
export function addBadgeIcons(map: MlMap, pixelRatio: number): void {
  const h = Math.round(BADGE_PX * pixelRatio)
  const labels = ['2', '3', '4', '5', '6', '7', '8', '9', '9+']
  for (const label of labels) {
    const w = Math.round((label.length > 1 ? 24 : BADGE_PX) * pixelRatio)
    const canvas = document.createElement('canvas')
    canvas.width = w
    canvas.height = h
    const ctx = canvas.getContext('2d', { willReadFrequently: true })
    if (!ctx) return
    const r = h / 2
    ctx.beginPath()
    ctx.moveTo(r, 0.5)
    ctx.arcTo(w - 0.5, 0.5, w - 0.5, h - 0.5, r - 0.5)
    ctx.arcTo(w - 0.5, h - 0.5, 0.5, h - 0.5, r - 0.5)
    ctx.arcTo(0.5, h - 0.5, 0.5, 0.5, r - 0.5)
    ctx.arcTo(0.5, 0.5, w - 0.5, 0.5, r - 0.5)
    ctx.closePath()
    ctx.fillStyle = '#ff6a00'
    ctx.fill()
    ctx.lineWidth = pixelRatio
    ctx.strokeStyle = '#ffffff'
    ctx.stroke()
    ctx.fillStyle = '#ffffff'
    ctx.font = `bold ${Math.round(h * 0.72)}px ${FONT}`
    ctx.textAlign = 'center'
    ctx.textBaseline = 'middle'
    ctx.fillText(label, w / 2, h / 2 + pixelRatio * 0.5)
    const name = `badge-${label}`
    const img = ctx.getImageData(0, 0, w, h)
    if (map.hasImage(name)) map.updateImage(name, img)
    else map.addImage(name, img, { pixelRatio })
  }
}
