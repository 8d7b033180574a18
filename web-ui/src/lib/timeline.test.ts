import { describe, expect, it } from 'vitest'
import { foldRepeats } from './timeline'

const refused = (n: number) => ({ id: `r${n}`, action: 'reassign', outcome: 'refused', refusal: 'invalid department', reason: '指派', actor: { id: 'dispatcher', role: 'dispatcher' } })

describe('foldRepeats', () => {
  it('folds a run of identical refusals into one with a count', () => {
    const out = foldRepeats([refused(1), refused(2), refused(3), { id: 'a', action: 'auto_dispatch', outcome: 'applied' }])
    expect(out.map((e) => [e.id, e.repeats ?? 1])).toEqual([
      ['r1', 3],
      ['a', 1],
    ])
  })
  it('keeps applied entries and different refusals apart', () => {
    const other = { ...refused(4), refusal: 'stale' }
    const applied = { id: 'x', action: 'reassign', outcome: 'applied', actor: { id: 'dispatcher', role: 'dispatcher' } }
    expect(foldRepeats([refused(1), other, applied, applied]).map((e) => e.id)).toEqual(['r1', 'r4', 'x', 'x'])
  })
  it('folds a run of reports added to the incident', () => {
    const added = (n: number) => ({ id: `a${n}`, action: 'add_report', outcome: 'applied', actor: { id: 'system', role: 'system' } })
    const out = foldRepeats([added(5), added(4), added(3), { id: 'd', action: 'auto_dispatch', outcome: 'applied' }, added(1)])
    expect(out.map((e) => [e.id, e.repeats ?? 1])).toEqual([
      ['a5', 3],
      ['d', 1],
      ['a1', 1],
    ])
  })
  it('counts entries the server folded already', () => {
    const added = (n: number, repeats?: number) => ({ id: `a${n}`, action: 'add_report', outcome: 'applied', repeats })
    const out = foldRepeats([added(9, 4), added(5), { id: 'd', action: 'auto_dispatch', outcome: 'applied' }, added(3, 2)])
    expect(out.map((e) => [e.id, e.repeats ?? 1])).toEqual([
      ['a9', 5],
      ['d', 1],
      ['a3', 2],
    ])
  })
  it('does not change its input', () => {
    const input = [refused(1), refused(2)]
    foldRepeats(input)
    expect(input[0]).not.toHaveProperty('repeats')
  })
})
