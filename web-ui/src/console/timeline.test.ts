import { describe, expect, it } from 'vitest'
import { foldRefusals } from './timeline'

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
