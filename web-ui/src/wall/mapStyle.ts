// The wall map's MapLibre style: local GeoJSON sources only (no tiles, glyphs or sprites, so it
// works with no internet), and only fill/line/circle layers. Labels are HTML markers (WallMap.vue).
//
// Sizes are CSS pixels at the 1920×1080 design and are multiplied by the UI scale, so lines and
// symbols keep their proportions on a 4K wall.

import type {
  DataDrivenPropertyValueSpecification,
  ExpressionSpecification,
  LayerSpecification,
  StyleSpecification,
} from 'maplibre-gl'
import type { FeatureCollection } from 'geojson'
import { RESOURCE_KINDS, SEVERITIES } from '../lib/format'

/** Groups of style layers the wall's layer toggles switch together. */
export const TOGGLES = {
  incidents: ['incidents-halo', 'incidents', 'incident-icons', 'incident-badges', 'incident-badges-major', 'incident-selected'],
  heat: ['incidents-heat'],
  resources: ['resources-main', 'resources-detail'],
  villages: ['villages-line'],
  grids: ['grids-line'],
  roads: ['roads-major', 'roads-minor'],
  warnings: ['warnings-fill', 'warnings-line', 'grids-affected'],
  workers: ['workers-halo', 'workers'],
} as const

export type ToggleName = keyof typeof TOGGLES

/** A map view to come back to (camera and layer toggles), e.g. after 战时. */
export interface SavedView {
  center: [number, number]
  zoom: number
  bearing: number
  pitch: number
  toggles: Record<ToggleName, boolean>
  /** Saved before the home view was known: restore to home. */
  home?: boolean
}

/** Which toggles are on when nothing was chosen yet. */
export const DEFAULT_TOGGLES: Record<ToggleName, boolean> = {
  incidents: true,
  heat: false,
  resources: true,
  villages: true,
  grids: true,
  roads: true,
  warnings: true,
  workers: true,
}

/** A GIS layer's load state, as the legend shows it. */
export interface LayerStatus {
  state: 'loading' | 'ok' | 'error'
  /** Whether any feature of the layer is a generated (示意) geometry. */
  schematic: boolean
  count: number
}

export const EMPTY_FC: FeatureCollection = { type: 'FeatureCollection', features: [] }

/** Source ids; GIS sources are named like the server's layers. */
export const SRC = {
  district: 'district',
  towns: 'towns',
  villages: 'villages',
  grids: 'grids',
  roads: 'roads',
  resources: 'resources',
  incidents: 'incidents',
  warnings: 'warnings',
  workers: 'workers',
  /** The 战时 view: links from the incident to nearby resources and responders, and their points. */
  command: 'command',
} as const

/** Badges with the report count of fused incidents (event_count ≥ 2). */
export const BADGE_LAYER = 'incident-badges'
/** Badges of incidents with many reports: shown at every zoom (the others once zoomed in). */
export const BADGE_LAYER_MAJOR = 'incident-badges-major'
export const BADGE_MAJOR = 5

export const INCIDENT_LAYER = 'incidents'
/** Category symbols, drawn instead of plain circles once zoomed in. */
export const ICON_LAYER = 'incident-icons'

const severityColor: ExpressionSpecification = [
  'match',
  ['get', 'sev'],
  ...SEVERITIES.flatMap((s) => [s.level, s.color]),
  SEVERITIES[3]?.color ?? '#2f9bff',
] as unknown as ExpressionSpecification

const resourceColor: ExpressionSpecification = [
  'match',
  ['get', 'kind'],
  ...RESOURCE_KINDS.flatMap((k) => [k.kind, k.color]),
  '#8aa4c0',
] as unknown as ExpressionSpecification

const detailKinds = RESOURCE_KINDS.filter((k) => k.detail).map((k) => k.kind)

/**
 * Circle radius in screen px: grows slowly with event_count (fused reports), is larger for the
 * severe levels so they stand out in a crowd of 一般 ones, and grows when zoomed in. Zoom stops are
 * shifted by log2(s) because a screen s times larger shows the same view s times bigger
 * (one zoom level further in).
 */
function incidentRadius(s: number, extra = 0): DataDrivenPropertyValueSpecification<number> {
  const bySize: ExpressionSpecification = ['interpolate', ['linear'], ['get', 'n'], 1, 4.5 + extra, 3, 6.5 + extra, 10, 9.5 + extra, 50, 14 + extra]
  const bySeverity: ExpressionSpecification = ['match', ['get', 'sev'], 1, 1.5, 2, 1.25, 3, 1, 0.85]
  const base: ExpressionSpecification = ['*', bySize, bySeverity, s]
  const z = Math.log2(Math.max(s, 0.25))
  return ['interpolate', ['linear'], ['zoom'], 8 + z, ['*', base, 0.8], 10 + z, base, 13 + z, ['*', base, 1.6], 16 + z, ['*', base, 2.2]] as unknown as DataDrivenPropertyValueSpecification<number>
}

/** Symbol size (a multiple of the icon's design size): grows with fused reports, and with the UI. */
export function iconSize(s: number): DataDrivenPropertyValueSpecification<number> {
  return ['interpolate', ['linear'], ['get', 'n'], 1, 0.75 * s, 5, 1 * s, 20, 1.3 * s] as unknown as DataDrivenPropertyValueSpecification<number>
}

/** Paint properties that depend on the UI scale, by layer id. */
export function scaledPaint(s: number): Record<string, Record<string, unknown>> {
  return {
    'district-glow': { 'line-width': 10 * s, 'line-blur': 8 * s },
    'district-line': { 'line-width': 2.2 * s },
    'towns-line': { 'line-width': 1.1 * s },
    'villages-line': { 'line-width': 0.6 * s },
    'grids-line': { 'line-width': 0.5 * s },
    'roads-major': { 'line-width': 1.8 * s },
    'roads-minor': { 'line-width': 0.8 * s },
    'resources-main': { 'circle-radius': 3.6 * s, 'circle-stroke-width': 1 * s },
    'resources-detail': { 'circle-radius': 2.4 * s, 'circle-stroke-width': 0.6 * s },
    'incidents-halo': { 'circle-radius': incidentRadius(s, 7) },
    'incidents-heat': {
      'heatmap-radius': ['interpolate', ['linear'], ['zoom'], 8, 10 * s, 12, 28 * s, 15, 50 * s],
    },
    incidents: { 'circle-radius': incidentRadius(s), 'circle-stroke-width': 0.9 * s },
    'warnings-line': { 'line-width': 2 * s },
    workers: { 'circle-radius': 4.6 * s, 'circle-stroke-width': 1.4 * s },
    'workers-halo': { 'circle-radius': 8 * s },
    'command-links': { 'line-width': 1.6 * s },
    'command-points': { 'circle-radius': 6 * s, 'circle-stroke-width': 2 * s },
    'incident-selected': { 'circle-radius': incidentRadius(s, 6), 'circle-stroke-width': 2 * s },
  }
}

/** Roads by class: the sample city tags them kind=county|urban; other cities may use OSM-like names. */
const isMajorRoad: ExpressionSpecification = [
  'in',
  ['downcase', ['to-string', ['coalesce', ['get', 'kind'], ['get', 'level'], '']]],
  ['literal', ['motorway', 'expressway', 'highway', 'trunk', 'primary', 'national', 'provincial', 'county', '高速', '国道', '省道', '县道', '主干道']],
]

/** The complete style for UI scale s. */
export function wallStyle(s: number): StyleSpecification {
  const paint = scaledPaint(s)
  const geo = (): { type: 'geojson'; data: FeatureCollection } => ({ type: 'geojson', data: EMPTY_FC })
  const layers: LayerSpecification[] = [
    { id: 'background', type: 'background', paint: { 'background-color': '#030d1c' } },
    {
      id: 'district-fill',
      type: 'fill',
      source: SRC.district,
      paint: { 'fill-color': '#0a2747', 'fill-opacity': 0.85 },
    },
    {
      id: 'towns-fill',
      type: 'fill',
      source: SRC.towns,
      paint: {
        'fill-color': ['case', ['==', ['%', ['to-number', ['slice', ['to-string', ['get', 'code']], 6, 9], 0], 2], 0], '#0e3562', '#0c2f57'],
        'fill-opacity': 0.9,
      },
    },
    {
      id: 'grids-line',
      type: 'line',
      source: SRC.grids,
      minzoom: 11,
      paint: { 'line-color': '#2c79c4', 'line-opacity': 0.16, ...paint['grids-line'] },
    },
    {
      id: 'villages-line',
      type: 'line',
      source: SRC.villages,
      paint: { 'line-color': '#2f86d0', 'line-opacity': 0.28, ...paint['villages-line'] },
    },
    {
      id: 'roads-minor',
      type: 'line',
      source: SRC.roads,
      filter: ['!', isMajorRoad],
      layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': '#2a4f78', 'line-opacity': 0.8, ...paint['roads-minor'] },
    },
    {
      id: 'roads-major',
      type: 'line',
      source: SRC.roads,
      filter: isMajorRoad,
      layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': '#4a7fb3', 'line-opacity': 0.85, ...paint['roads-major'] },
    },
    {
      id: 'towns-line',
      type: 'line',
      source: SRC.towns,
      layout: { 'line-join': 'round' },
      paint: { 'line-color': '#3fa9ff', 'line-opacity': 0.55, 'line-dasharray': [3, 2], ...paint['towns-line'] },
    },
    {
      id: 'district-glow',
      type: 'line',
      source: SRC.district,
      layout: { 'line-join': 'round' },
      paint: { 'line-color': '#00d8ff', 'line-opacity': 0.45, ...paint['district-glow'] },
    },
    {
      id: 'district-line',
      type: 'line',
      source: SRC.district,
      layout: { 'line-join': 'round' },
      paint: { 'line-color': '#8ef4ff', ...paint['district-line'] },
    },
    {
      id: 'resources-detail',
      type: 'circle',
      source: SRC.resources,
      minzoom: 11.5,
      filter: ['in', ['get', 'kind'], ['literal', detailKinds]],
      paint: {
        'circle-color': resourceColor,
        'circle-opacity': 0.75,
        'circle-stroke-color': '#030d1c',
        ...paint['resources-detail'],
      },
    },
    {
      id: 'resources-main',
      type: 'circle',
      source: SRC.resources,
      filter: ['!', ['in', ['get', 'kind'], ['literal', detailKinds]]],
      paint: {
        'circle-color': resourceColor,
        'circle-opacity': 0.9,
        'circle-stroke-color': '#030d1c',
        ...paint['resources-main'],
      },
    },
    {
      // Grid cells inside an active warning's area (the filter is set by the map).
      id: 'grids-affected',
      type: 'fill',
      source: SRC.grids,
      filter: ['in', ['get', 'code'], ['literal', []]],
      paint: { 'fill-color': '#ffb020', 'fill-opacity': 0.1, 'fill-outline-color': 'rgba(255,176,32,0.55)' },
    },
    {
      id: 'warnings-fill',
      type: 'fill',
      source: SRC.warnings,
      paint: { 'fill-color': severityColor, 'fill-opacity': 0.1 },
    },
    {
      id: 'warnings-line',
      type: 'line',
      source: SRC.warnings,
      layout: { 'line-join': 'round' },
      paint: { 'line-color': severityColor, 'line-opacity': 0.95, 'line-dasharray': [4, 2], ...paint['warnings-line'] },
    },
    {
      id: 'command-links',
      type: 'line',
      source: SRC.command,
      filter: ['==', ['geometry-type'], 'LineString'],
      paint: { 'line-color': ['get', 'color'], 'line-opacity': 0.75, 'line-dasharray': [2, 2], ...paint['command-links'] },
    },
    {
      id: 'command-points',
      type: 'circle',
      source: SRC.command,
      filter: ['==', ['geometry-type'], 'Point'],
      paint: {
        'circle-color': ['get', 'color'],
        'circle-opacity': 0.95,
        'circle-stroke-color': '#ffffff',
        ...paint['command-points'],
      },
    },
    {
      id: 'workers-halo',
      type: 'circle',
      source: SRC.workers,
      filter: ['==', ['get', 'task'], 1],
      paint: { 'circle-color': '#2fe0a0', 'circle-opacity': 0.25, 'circle-blur': 0.6, ...paint['workers-halo'] },
    },
    {
      id: 'workers',
      type: 'circle',
      source: SRC.workers,
      paint: {
        // Green, a colour no severity or resource kind uses; brighter when on a task.
        'circle-color': ['case', ['==', ['get', 'task'], 1], '#6dff9e', '#1fd67a'],
        'circle-stroke-color': '#eafff2',
        ...paint.workers,
      },
    },
    {
      // Density of open incidents, weighted by severity; off until switched on (layer toggles).
      id: 'incidents-heat',
      type: 'heatmap',
      source: SRC.incidents,
      filter: ['==', ['get', 'open'], 1],
      layout: { visibility: 'none' },
      paint: {
        'heatmap-weight': ['match', ['get', 'sev'], 1, 1, 2, 0.7, 3, 0.4, 0.2],
        'heatmap-intensity': ['interpolate', ['linear'], ['zoom'], 8, 0.6, 14, 1.6],
        'heatmap-color': [
          'interpolate',
          ['linear'],
          ['heatmap-density'],
          0,
          'rgba(0,0,0,0)',
          0.15,
          'rgba(0,120,255,0.35)',
          0.4,
          'rgba(0,220,255,0.55)',
          0.65,
          'rgba(255,210,31,0.7)',
          0.85,
          'rgba(255,138,31,0.8)',
          1,
          'rgba(255,59,59,0.9)',
        ],
        'heatmap-opacity': 0.85,
        ...paint['incidents-heat'],
      },
    },
    {
      id: 'incidents-halo',
      type: 'circle',
      source: SRC.incidents,
      // Halos only for the severe levels, so they read at a glance among many 一般 incidents.
      filter: ['all', ['==', ['get', 'open'], 1], ['<=', ['get', 'sev'], 2]],
      paint: {
        'circle-color': severityColor,
        'circle-opacity': 0.35,
        'circle-blur': 0.7,
        ...paint['incidents-halo'],
      },
    },
    {
      id: INCIDENT_LAYER,
      type: 'circle',
      source: SRC.incidents,
      layout: { 'circle-sort-key': ['-', 10, ['get', 'sev']] },
      paint: {
        'circle-color': severityColor,
        'circle-opacity': ['case', ['==', ['get', 'open'], 1], 0.92, 0.35],
        'circle-stroke-color': ['match', ['get', 'sev'], [1, 2], '#ffffff', '#041226'],
        'circle-stroke-opacity': ['case', ['==', ['get', 'open'], 1], 0.8, 0.3],
        ...paint.incidents,
      },
    },
    {
      id: ICON_LAYER,
      type: 'symbol',
      source: SRC.incidents,
      // The zoom at which symbols replace circles is set by the map once it knows the home view.
      minzoom: 12,
      layout: {
        'icon-image': ['concat', 'inc-', ['get', 'g'], '-', ['to-string', ['get', 'sev']]],
        'icon-allow-overlap': true,
        'icon-ignore-placement': true,
        'symbol-sort-key': ['-', 10, ['get', 'sev']],
        'icon-size': iconSize(s),
      },
      paint: {
        'icon-opacity': ['case', ['==', ['get', 'open'], 1], 1, 0.45],
      },
    },
    {
      id: BADGE_LAYER,
      type: 'symbol',
      source: SRC.incidents,
      filter: ['all', ['>=', ['get', 'n'], 2], ['<', ['get', 'n'], BADGE_MAJOR]],
      layout: {
        'icon-image': ['case', ['>', ['get', 'n'], 9], 'badge-9+', ['concat', 'badge-', ['to-string', ['get', 'n']]]],
        'icon-allow-overlap': true,
        'icon-ignore-placement': true,
        'icon-anchor': 'bottom-left',
        'icon-offset': [3, -3],
      },
    },
    {
      id: BADGE_LAYER_MAJOR,
      type: 'symbol',
      source: SRC.incidents,
      filter: ['>=', ['get', 'n'], BADGE_MAJOR],
      layout: {
        'icon-image': ['case', ['>', ['get', 'n'], 9], 'badge-9+', ['concat', 'badge-', ['to-string', ['get', 'n']]]],
        'icon-allow-overlap': true,
        'icon-ignore-placement': true,
        'icon-anchor': 'bottom-left',
        'icon-offset': [3, -3],
      },
    },
    {
      id: 'incident-selected',
      type: 'circle',
      source: SRC.incidents,
      filter: ['==', ['get', 'id'], ''],
      paint: {
        'circle-color': 'rgba(0,0,0,0)',
        'circle-stroke-color': '#ffffff',
        ...paint['incident-selected'],
      },
    },
  ]
  return {
    version: 8,
    name: 'citybrain-wall',
    sources: {
      [SRC.district]: geo(),
      [SRC.towns]: geo(),
      [SRC.villages]: geo(),
      [SRC.grids]: geo(),
      [SRC.roads]: geo(),
      [SRC.resources]: geo(),
      // Feature ids let the wall send only what changed (GeoJSONSource.updateData).
      [SRC.incidents]: { ...geo(), promoteId: 'id' },
      [SRC.warnings]: geo(),
      [SRC.workers]: geo(),
      [SRC.command]: geo(),
    },
    layers,
  }
}
