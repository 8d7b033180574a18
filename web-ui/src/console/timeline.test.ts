import { describe, expect, it } from 'vitest'
import { firstAndLatest, reportsShown } from './timeline'

describe('firstAndLatest', () => {
  it('keeps short lists whole', () => {
    expect(firstAndLatest([1, 2, 3], 5)).toEqual([1, 2, 3])
  })
  it('keeps the first and the latest of a storm', () => {
    const all = Array.from({ length: 300 }, (_, i) => i)
    const shown = firstAndLatest(all)
    expect(shown.length).toBe(reportsShown)
    expect(shown[0]).toBe(0)
    expect(shown[1]).toBe(300 - (reportsShown - 1))
    expect(shown[shown.length - 1]).toBe(299)
  })
})
