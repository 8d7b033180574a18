import { describe, expect, it } from 'vitest'
import type { Incident } from '../lib/types'
import { fmtDistance, fmtDuration, fmtRate } from './messages'
import { createWallStore } from './store'
import { parseMode, parsePositions } from './wallApi'
import { activeWarnings, affectedGrids, inspectionProgress, isActiveWarning } from './warnings'

const area = { type: 'Polygon' as const, coordinates: [[[120.1, 32.48], [120.16, 32.48], [120.16, 32.53], [120.1, 32.48]]] }

describe('wall mode and positions in the store', () => {
  it('takes the mode from the snapshot and from mode deltas, ignoring malformed ones', () => {
    const st = createWallStore()
    st.channel.onSnapshot({ incidents: [], mode: { mode: 'normal' } })
    expect(st.mode.value?.mode).toBe('normal')
    st.channel.onDelta('mode', { mode: 'emergency', incident_id: 'INC-1', auto: true, since: '2026-11-22T03:00:00Z' })
    expect(st.mode.value).toMatchObject({ mode: 'emergency', incident_id: 'INC-1', auto: true })
    st.channel.onDelta('mode', { mode: 'war' })
    expect(st.mode.value?.mode).toBe('emergency')
  })

  it('replaces workers on a full set, updates and removes on partial ones', () => {
    const st = createWallStore()
    st.channel.onSnapshot({
      incidents: [],
      workers: [
        { id: 'a', lon: 120.1, lat: 32.5 },
        { id: 'b', lon: 120.2, lat: 32.5 },
      ],
    })
    expect([...st.workers.keys()]).toEqual(['a', 'b'])
    const rev = st.workersRevision.value
    st.channel.onDelta('positions', { workers: [{ id: 'a', lon: 120.11, lat: 32.51, task_id: 'T1' }], full: false, removed: ['b'] })
    expect([...st.workers.keys()]).toEqual(['a'])
    expect(st.workers.get('a')).toMatchObject({ lon: 120.11, task_id: 'T1' })
    expect(st.workersRevision.value).toBeGreaterThan(rev)
    st.channel.onDelta('positions', { workers: [{ id: 'c', lon: 120.3, lat: 32.4 }], full: true })
    expect([...st.workers.keys()]).toEqual(['c'])
    st.channel.onDelta('positions', { workers: [{ id: 'c', lon: 120.3, lat: 32.4, on_duty: false }], full: false })
    expect(st.workers.size).toBe(0)
  })

  it('drops malformed positions', () => {
    expect(parsePositions([{ id: 'x', lon: 'a', lat: 1 }, { lon: 1, lat: 1 }, { id: 'z', lon: 0, lat: 0 }, { id: 'ok', lon: 120, lat: 32 }]).map((w) => w.id)).toEqual(['ok'])
    expect(parsePositions(null)).toEqual([])
    expect(parseMode(null)).toBeNull()
    expect(parseMode({ mode: 'emergency', incident_id: '' })?.incident_id).toBeUndefined()
  })
})

describe('warnings', () => {
  const now = Date.parse('2026-11-22T04:00:00Z')
  const w = (id: string, extra: Partial<Incident>): Incident => ({ id, state: 'received', source: 'emergency', area, ...extra })

  it('keeps open, unexpired warnings with an area, most severe first', () => {
    const list = [
      w('old', { expires: '2026-11-22T03:00:00Z' }),
      w('closed', { state: 'closed' }),
      w('blue', { severity: 4, first_seen: '2026-11-22T03:00:00Z' }),
      w('orange', { severity: 2, expires: '2026-11-22T09:00:00Z', affected_grids: ['g1', 'g2'] }),
      { id: 'noarea', state: 'received', source: 'emergency' },
    ]
    expect(activeWarnings(list, now).map((i) => i.id)).toEqual(['orange', 'blue'])
    expect(isActiveWarning(w('line', { area: { type: 'LineString', coordinates: [] } as never }), now)).toBe(false)
    expect(affectedGrids(activeWarnings(list, now))).toEqual(['g1', 'g2'])
  })

  it('counts inspection progress', () => {
    const inc = w('x', { affected_grids: ['a', 'b', 'c'], inspections: [{ grid: 'a', state: 'done' }, { grid: 'b', state: 'pending' }, { grid: 'c', state: 'done' }] })
    expect(inspectionProgress(inc)).toEqual({ done: 2, all: 3 })
    expect(inspectionProgress(w('y', { affected_grids: ['a'] }))).toEqual({ done: 0, all: 1 })
  })
})

describe('formatting of the new tiles', () => {
  it('formats rates, durations and distances, and null stays null', () => {
    expect(fmtRate(0.9349)).toBe('93.5%')
    expect(fmtRate(null)).toBeNull()
    expect(fmtRate(Number.NaN)).toBeNull()
    expect(fmtDuration(14)).toBe('14秒')
    expect(fmtDuration(600)).toBe('10分钟')
    expect(fmtDuration(null)).toBeNull()
    expect(fmtDistance(850)).toBe('850 m')
    expect(fmtDistance(2400)).toBe('2.4 km')
  })
})
