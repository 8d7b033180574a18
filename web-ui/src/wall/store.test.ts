import { describe, expect, it, vi } from 'vitest'
import type { Incident } from '../lib/types'
import { CLOSED_KEEP_MS, DELTA_BATCH_MS, EVICT_SLACK, MAX_INCIDENTS, createWallStore, normaliseStats } from './store'

const inc = (id: string, version: number, extra: Partial<Incident> = {}): Incident => ({ id, version, ...extra })

describe('wall store', () => {
  it('replaces state on snapshot and upserts deltas by id, newer versions only', () => {
    const st = createWallStore()
    const arrived: string[] = []
    st.onArrival((i) => arrived.push(i.id))
    st.channel.onSnapshot({ incidents: [inc('A', 2), inc('B', 1), { nope: 1 }], stats: { open: 2 } })
    expect([...st.incidents.keys()]).toEqual(['A', 'B'])
    expect(st.live.value).toBe(true)
    st.channel.onDelta('incident', inc('A', 1, { state: 'old' }))
    expect(st.incidents.get('A')?.state).toBeUndefined()
    st.channel.onDelta('incident', inc('A', 3, { state: 'closed' }))
    expect(st.incidents.get('A')?.state).toBe('closed')
    st.channel.onDelta('incident', inc('C', 1))
    expect(arrived).toEqual(['C'])
    const rev = st.revision.value
    st.channel.onSnapshot({ incidents: [inc('Z', 1)] })
    expect([...st.incidents.keys()]).toEqual(['Z'])
    expect(st.revision.value).toBeGreaterThan(rev)
  })

  it('batches view updates from deltas', () => {
    vi.useFakeTimers()
    try {
      const st = createWallStore()
      st.channel.onSnapshot({ incidents: [] })
      const rev = st.revision.value
      for (let i = 0; i < 50; i++) st.channel.onDelta('incident', inc(`D${i}`, 1))
      expect(st.incidents.size).toBe(50)
      expect(st.revision.value).toBe(rev)
      vi.advanceTimersByTime(DELTA_BATCH_MS)
      expect(st.revision.value).toBe(rev + 1)
    } finally {
      vi.useRealTimers()
    }
  })

  it('ignores REST seeding once live', () => {
    const st = createWallStore()
    st.seed([inc('R', 1)])
    expect(st.incidents.has('R')).toBe(true)
    st.channel.onSnapshot({ incidents: [] })
    st.seed([inc('S', 1)])
    expect(st.incidents.size).toBe(0)
  })

  it('on reload keeps showing the old state until the new snapshot replaces it', () => {
    const st = createWallStore()
    st.channel.onSnapshot({ incidents: [inc('A', 1)], stats: { open: 1 } })
    st.channel.onReload?.('x')
    expect(st.live.value).toBe(false)
    expect(st.incidents.size).toBe(1)
    st.channel.onSnapshot({ incidents: [inc('B', 1)], stats: { open: 7 } })
    expect([...st.incidents.keys()]).toEqual(['B'])
    expect(st.stats.value?.open).toBe(7)
    expect(st.live.value).toBe(true)
  })

  it('evicts closed incidents first beyond the cap', () => {
    const st = createWallStore()
    const items: Incident[] = []
    for (let i = 0; i < MAX_INCIDENTS; i++) items.push(inc(`O${i}`, 1, { state: 'dispatched', updated_at: '2026-01-01T00:00:00Z' }))
    items.push(inc('CLOSED', 1, { state: 'closed', updated_at: '2026-06-01T00:00:00Z' }))
    st.channel.onSnapshot({ incidents: items })
    expect(st.incidents.size).toBe(MAX_INCIDENTS)
    expect(st.incidents.has('CLOSED')).toBe(false)
    // Live arrivals beyond the cap are trimmed in batches, oldest first.
    for (let i = 0; i <= EVICT_SLACK; i++) st.channel.onDelta('incident', inc(`N${i}`, 1, { state: 'filed', updated_at: '2026-12-01T00:00:00Z' }))
    expect(st.incidents.size).toBe(MAX_INCIDENTS)
    expect(st.incidents.has(`N${EVICT_SLACK}`)).toBe(true)
    expect(st.incidents.has('O0')).toBe(false)
  })

  it('drops an incident on a remove delta unless the held copy is newer', () => {
    const st = createWallStore()
    st.channel.onSnapshot({ incidents: [inc('A', 2), inc('B', 5)] })
    st.channel.onDelta('remove', { id: 'A', version: 3 })
    st.channel.onDelta('remove', { id: 'B', version: 4 })
    expect([...st.incidents.keys()]).toEqual(['B'])
  })

  it('normalises stats: numbers only, negatives and junk dropped', () => {
    expect(normaliseStats(null)).toBeNull()
    expect(normaliseStats({ today: { hotline: '3', grid: -1, emergency: 'x', traffic: 2.6, bogus: 1 }, open: NaN, closed: 4, total: null })).toEqual({
      today: { hotline: 3, traffic: 3 },
      closed: 4,
    })
    expect(normaliseStats({ states: { dispatched: 5, received: 0, x: 'y' } })?.states).toEqual({ dispatched: 5 })
  })
})

describe('closed incidents on the live wall', () => {
  it('leave CLOSED_KEEP_MS after their last change; open ones and playback keep them', () => {
    let t = Date.parse('2026-12-05T10:00:00Z')
    const st = createWallStore({ now: () => t })
    const pb = createWallStore({ closedKeepMs: Infinity, now: () => t })
    const at = (ms: number) => new Date(t - ms).toISOString()
    const items = [
      inc('OLD-CLOSED', 3, { state: 'closed', updated_at: at(CLOSED_KEEP_MS + 1000) }),
      inc('NEW-CLOSED', 3, { state: 'closed', updated_at: at(60_000) }),
      inc('OLD-OPEN', 1, { state: 'dispatched', updated_at: at(10 * CLOSED_KEEP_MS) }),
    ]
    st.channel.onSnapshot({ incidents: items })
    pb.channel.onSnapshot({ incidents: items })
    expect([...st.incidents.keys()].sort()).toEqual(['NEW-CLOSED', 'OLD-OPEN'])
    expect(pb.incidents.size).toBe(3)
    // Half an hour later the other one goes too, with the next change the wall sees.
    t += CLOSED_KEEP_MS
    st.channel.onSnapshot({ incidents: [...st.incidents.values()] })
    expect([...st.incidents.keys()]).toEqual(['OLD-OPEN'])
  })
})
