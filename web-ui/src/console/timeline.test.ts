import { describe, expect, it } from 'vitest'
import { firstAndLatest, foldRefusals, reportsShown } from './timeline'

const refused = (n: number) => ({ id: `r${n}`, action: 'reassign', outcome: 'refused', refusal: 'invalid department', reason: '指派', actor: { id: 'dispatcher', role: 'dispatcher' } })

describe('foldRefusals', () => {
  it('folds a run of identical refusals into one with a count', () => {
    const out = foldRefusals([refused(1), refused(2), refused(3), { id: 'a', action: 'auto_dispatch', outcome: 'applied' }])
    expect(out.map((e) => [e.id, e.repeats ?? 1])).toEqual([
      ['r1', 3],
      ['a', 1],
    ])
  })
  it('keeps applied entries and different refusals apart', () => {
    const other = { ...refused(4), refusal: 'stale' }
    const applied = { id: 'x', action: 'reassign', outcome: 'applied', actor: { id: 'dispatcher', role: 'dispatcher' } }
    expect(foldRefusals([refused(1), other, applied, applied]).map((e) => e.id)).toEqual(['r1', 'r4', 'x', 'x'])
  })
  it('does not change its input', () => {
    const input = [refused(1), refused(2)]
    foldRefusals(input)
    expect(input[0]).not.toHaveProperty('repeats')
  })
})

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
