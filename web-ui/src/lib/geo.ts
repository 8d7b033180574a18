// Small planar helpers on WGS-84 [lon, lat] coordinates, enough for bounds and label placement
// within one district (a few tens of kilometres, where planar maths is fine for these purposes).

import type { Geometry, Position } from 'geojson'

/** [west, south, east, north]. */
export type BBox = [number, number, number, number]

/** Extends bbox b (or starts one) with every position in geometry g. */
export function extendBBox(b: BBox | null, g: Geometry | null | undefined): BBox | null {
  if (!g) return b
  let out = b
  const add = (p: Position) => {
    const [x, y] = p
    if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y)) return
    if (!out) out = [x, y, x, y]
    else out = [Math.min(out[0], x), Math.min(out[1], y), Math.max(out[2], x), Math.max(out[3], y)]
  }
  switch (g.type) {
    case 'Point':
      add(g.coordinates)
      break
    case 'MultiPoint':
    case 'LineString':
      g.coordinates.forEach(add)
      break
    case 'MultiLineString':
    case 'Polygon':
      g.coordinates.forEach((l) => l.forEach(add))
      break
    case 'MultiPolygon':
      g.coordinates.forEach((poly) => poly.forEach((l) => l.forEach(add)))
      break
    case 'GeometryCollection':
      for (const c of g.geometries) out = extendBBox(out, c)
      break
  }
  return out
}

/** Signed area of a ring (shoelace, in degrees²). */
function ringArea(ring: Position[]): number {
  let a = 0
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const p = ring[i] as Position
    const q = ring[j] as Position
    a += ((q[0] ?? 0) - (p[0] ?? 0)) * ((q[1] ?? 0) + (p[1] ?? 0))
  }
  return a / 2
}

/** Planar area of a (multi)polygon in degrees² (outer rings minus holes), 0 for other geometries. */
export function area(g: Geometry | null | undefined): number {
  if (!g) return 0
  const poly = (rings: Position[][]) =>
    rings.reduce((sum, r, i) => sum + (i === 0 ? 1 : -1) * Math.abs(ringArea(r)), 0)
  if (g.type === 'Polygon') return poly(g.coordinates)
  if (g.type === 'MultiPolygon') return g.coordinates.reduce((sum, p) => sum + poly(p), 0)
  return 0
}

/** Whether point p is inside ring (even-odd rule). */
export function inRing(p: [number, number], ring: Position[]): boolean {
  let inside = false
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi = 0, yi = 0] = ring[i] as Position
    const [xj = 0, yj = 0] = ring[j] as Position
    if (yi > p[1] !== yj > p[1] && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside
  }
  return inside
}

/**
 * A point well inside a polygon for its label: the middle of the widest horizontal chord through
 * the polygon's largest part, tried at several latitudes around its middle (a centroid can fall
 * outside a concave town). Null for non-polygons.
 */
export function labelPoint(g: Geometry | null | undefined): [number, number] | null {
  if (!g) return null
  let polys: Position[][][]
  if (g.type === 'Polygon') polys = [g.coordinates]
  else if (g.type === 'MultiPolygon') polys = g.coordinates
  else return null
  let best: Position[][] | null = null
  let bestArea = -1
  for (const poly of polys) {
    const outer = poly[0]
    if (!outer || outer.length < 4) continue
    const a = Math.abs(ringArea(outer))
    if (a > bestArea) {
      bestArea = a
      best = poly
    }
  }
  if (!best) return null
  const bb = extendBBox(null, { type: 'Polygon', coordinates: best })
  if (!bb) return null
  let pick: [number, number] | null = null
  let pickWidth = -1
  for (const f of [0.5, 0.42, 0.58, 0.35, 0.65, 0.28, 0.72]) {
    const y = bb[1] + (bb[3] - bb[1]) * f
    const xs: number[] = []
    for (const ring of best) {
      for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
        const [xi = 0, yi = 0] = ring[i] as Position
        const [xj = 0, yj = 0] = ring[j] as Position
        if (yi > y !== yj > y) xs.push(((xj - xi) * (y - yi)) / (yj - yi) + xi)
      }
    }
    xs.sort((a, b) => a - b)
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const w = (xs[k + 1] as number) - (xs[k] as number)
      // Prefer chords near the middle: a slightly narrower central chord beats an edge one.
      const score = w * (1 - Math.abs(f - 0.5))
      if (score > pickWidth) {
        pickWidth = score
        pick = [((xs[k] as number) + (xs[k + 1] as number)) / 2, y]
      }
    }
  }
  return pick
}
