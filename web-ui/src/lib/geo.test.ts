import { describe, expect, it } from 'vitest'
import type { Polygon } from 'geojson'
import { area, extendBBox, inRing, labelPoint } from './geo'

// A "U": the centroid (about 1.5, 1.2) lies in the notch, outside the shape.
const U: Polygon = {
  type: 'Polygon',
  coordinates: [
    [
      [0, 0],
      [3, 0],
      [3, 3],
      [2, 3],
      [2, 1],
      [1, 1],
      [1, 3],
      [0, 3],
      [0, 0],
    ],
  ],
}

describe('geo', () => {
  it('puts a label inside a concave polygon', () => {
    const p = labelPoint(U)
    expect(p).not.toBeNull()
    expect(inRing(p as [number, number], U.coordinates[0]!)).toBe(true)
  })

  it('computes bounds and areas', () => {
    expect(extendBBox(null, U)).toEqual([0, 0, 3, 3])
    expect(area(U)).toBeCloseTo(7)
    expect(area({ type: 'Point', coordinates: [1, 1] })).toBe(0)
    expect(labelPoint({ type: 'Point', coordinates: [1, 1] })).toBeNull()
  })
})
