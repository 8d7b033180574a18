import { describe, expect, it } from 'vitest'
import { distanceMeters, navigateURL } from './geo'
import { fitWithin } from './photo'
import { shouldReport } from './position'
import { decodeClaims } from './session'

describe('phone helpers', () => {
  it('measures distances', () => {
    const d = distanceMeters({ lon: 120.1, lat: 32.5 }, { lon: 120.1, lat: 32.501 })
    expect(d).toBeGreaterThan(105)
    expect(d).toBeLessThan(118)
  })
  it('reports a position every 30 s or after 50 m', () => {
    const a = { lon: 120.1, lat: 32.5, accuracy: 10, at: 0 }
    expect(shouldReport(null, a)).toBe(true)
    expect(shouldReport(a, { ...a, at: 10_000 })).toBe(false)
    expect(shouldReport(a, { ...a, at: 30_000 })).toBe(true)
    expect(shouldReport(a, { ...a, lat: 32.5006, at: 5_000 })).toBe(true)
  })
  it('links to the phone map app with WGS-84 coordinates', () => {
    expect(navigateURL(120.123456, 32.5, '垃圾', 'Android')).toBe('geo:32.500000,120.123456?q=32.500000,120.123456(%E5%9E%83%E5%9C%BE)')
    expect(navigateURL(120.1, 32.5, 'x', 'iPhone')).toMatch(/^maps:\/\/\?q=x&ll=32\.500000,120\.100000$/)
  })
  it('downscales to 1600 px on the long side, never up', () => {
    expect(fitWithin(4000, 3000)).toEqual({ width: 1600, height: 1200 })
    expect(fitWithin(3000, 4000)).toEqual({ width: 1200, height: 1600 })
    expect(fitWithin(800, 600)).toEqual({ width: 800, height: 600 })
  })
  it('reads the claims of a token', () => {
    const payload = btoa(JSON.stringify({ sub: 'worker', exp: 123 })).replace(/=+$/, '')
    expect(decodeClaims(`h.${payload}.s`)).toEqual({ sub: 'worker', exp: 123 })
    expect(decodeClaims('garbage')).toEqual({})
  })
})
