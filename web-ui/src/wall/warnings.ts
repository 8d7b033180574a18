// Active CAP warnings among the wall's incidents: open emergency incidents that carry a warning
// area and have not expired.
import type { Feature, Geometry } from 'geojson'
import { isOpen, parseTime, severityLevel } from '../lib/format'
import type { Incident } from '../lib/types'

/** Whether an incident is a warning that is in force at time now (ms). */
export function isActiveWarning(inc: Incident, now: number): boolean {
  if (!inc.area || typeof inc.area !== 'object' || !isOpen(inc)) return false
  if (inc.area.type !== 'Polygon' && inc.area.type !== 'MultiPolygon') return false
  const exp = parseTime(inc.expires)
  return exp === null || exp > now
}

/** Active warnings, most severe first, then newest. */
export function activeWarnings(incidents: Iterable<Incident>, now: number): Incident[] {
  const out: Incident[] = []
  for (const inc of incidents) if (isActiveWarning(inc, now)) out.push(inc)
  return out.sort(
    (a, b) =>
      severityLevel(a.severity) - severityLevel(b.severity) || (parseTime(b.first_seen) ?? 0) - (parseTime(a.first_seen) ?? 0),
  )
}

/** Inspection progress of a warning: done of all. */
export function inspectionProgress(inc: Incident): { done: number; all: number } {
  const list = Array.isArray(inc.inspections) ? inc.inspections : []
  const all = list.length || (Array.isArray(inc.affected_grids) ? inc.affected_grids.length : 0)
  return { done: list.filter((i) => i?.state === 'done').length, all }
}

/** The map features of the warnings' areas. */
export function warningFeatures(list: Incident[]): Feature<Geometry>[] {
  return list.map((inc) => ({
    type: 'Feature',
    geometry: inc.area as Geometry,
    properties: { id: inc.id, sev: severityLevel(inc.severity) },
  }))
}

/** Every affected grid code of the warnings. */
export function affectedGrids(list: Incident[]): string[] {
  const set = new Set<string>()
  for (const inc of list) for (const g of inc.affected_grids ?? []) if (typeof g === 'string') set.add(g)
  return [...set]
}
