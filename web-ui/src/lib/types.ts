import type { Feature, FeatureCollection, Geometry } from 'geojson'

// Wire types of the citybrain HTTP API and realtime protocol, as the front end reads them.
// Every field the server may leave out is optional: the UI guards each one (no "undefined" on a wall).

/** A place in the admin hierarchy (national 12-digit code). */
export interface PlaceRef {
  code?: string
  name?: string
  schematic?: boolean
}

/** District → town (街道/镇) → village/community (村/社区) → grid cell (网格). */
export interface Place {
  district?: PlaceRef | null
  town?: PlaceRef | null
  village?: PlaceRef | null
  grid?: PlaceRef | null
}

/** The task (工单) currently assigned for an incident. */
export interface TaskRef {
  id?: string
  state?: string
  department?: string
  deadline?: string
}

/** Event sources. */
export type Source = 'hotline' | 'grid' | 'emergency' | 'traffic'
export const SOURCES: readonly Source[] = ['hotline', 'grid', 'emergency', 'traffic']

/** An incident (案件) as the API and the realtime deltas carry it: full state, replace by id. */
export interface Incident {
  id: string
  version?: number
  state?: string
  category?: string
  category_name?: string
  /** 1 = I 特别重大 … 4 = IV 一般. */
  severity?: number
  title?: string
  description?: string
  source?: string
  sources?: Partial<Record<string, number>>
  event_count?: number
  /** WGS-84. */
  location?: { lon?: number; lat?: number } | null
  address?: string
  place?: Place | null
  first_seen?: string
  last_seen?: string
  updated_at?: string
  task?: TaskRef | null
  /** Warning area of a CAP alert (GeoJSON Polygon/MultiPolygon, WGS-84) and the grid cells inside it. */
  area?: Geometry | null
  affected_grids?: string[]
  expires?: string
  /** The 巡查 tasks of a warning, one per affected grid cell. */
  inspections?: Inspection[]
}

/** The inspection task of one grid cell under a warning. */
export interface Inspection {
  grid?: string
  state?: string
  by?: string
  at?: string
}

/** One state change of an incident (the audit trail), as GET /api/v1/incidents/{id} adds it. */
export interface TimelineEntry {
  id?: string
  version?: number
  action?: string
  from?: string
  to?: string
  actor?: { id?: string; role?: string } | null
  at?: string
  reason?: string
  event_source?: string
  /** How many entries this one stands for (?timeline=folded: a run of reports fused in). */
  repeats?: number
}

/** GET /api/v1/incidents/{id}: the incident and its timeline. */
export interface IncidentDetail extends Incident {
  timeline?: TimelineEntry[]
}

/** The wall's KPI block. */
export interface WallStats {
  today?: Partial<Record<Source, number>>
  open?: number
  closed?: number
  total?: number
  /** Incidents by case state (all of them, not only today's). */
  states?: Record<string, number>
}

export interface IncidentList {
  items?: Incident[]
  total?: number
}

/** Resource kinds in the resources layer. */
export type ResourceKind =
  | 'fire_station'
  | 'hospital'
  | 'police'
  | 'shelter'
  | 'water_sensor'
  | 'smoke_sensor'
  | 'camera'

/** Names of the GIS layers the server serves at /api/v1/gis/layers/{name}. */
export type LayerName = 'district' | 'towns' | 'villages' | 'grids' | 'roads' | 'resources'
export const LAYER_NAMES: readonly LayerName[] = ['district', 'towns', 'villages', 'grids', 'roads', 'resources']

export interface LayerProps {
  code?: string
  name?: string
  level?: string | number
  schematic?: boolean
  kind?: string
  id?: string
}

export type LayerFeature = Feature<Geometry, LayerProps>
export type LayerCollection = FeatureCollection<Geometry, LayerProps>
