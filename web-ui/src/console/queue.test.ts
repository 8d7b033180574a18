import { describe, expect, it } from 'vitest'
import { applyDelta, compareQueue, countdown, EMPTY_FILTER, matches, snapshotIncidents, urgency, wantsAlarm, type QueueIncident } from './queue'

const NOW = Date.parse('2026-11-22T04:00:00Z')
const H = 3600_000
const iso = (ms: number) => new Date(ms).toISOString()

function inc(p: Partial<QueueIncident> & { id: string }): QueueIncident {
  return { version: 1, state: 'dispatched', severity: 4, source: 'hotline', sources: { hotline: 1 }, ...p }
}

describe('filters', () => {
  const a = inc({ id: 'INC-A', title: '违规广告', category: 'city.ads', category_name: '违规广告', sources: { grid: 1, hotline: 1 }, source: 'grid', place: { town: { code: 'T1', name: '三水街道' }, village: { name: '三沙社区' } }, task: { deadline: iso(NOW - H) } })
  const b = inc({ id: 'INC-B', title: '噪声扰民', category: 'env.noise', state: 'closed', place: { town: { code: 'T2', name: '溱潼镇' } }, task: { deadline: iso(NOW - H) } })
  const f = (p: Partial<typeof EMPTY_FILTER>) => ({ ...EMPTY_FILTER, ...p })
  it('passes everything with the empty filter', () => {
    expect([a, b].filter((x) => matches(x, EMPTY_FILTER, NOW))).toHaveLength(2)
  })
  it('matches any of the fused sources', () => {
    expect(matches(a, f({ source: 'hotline' }), NOW)).toBe(true)
    expect(matches(a, f({ source: 'traffic' }), NOW)).toBe(false)
  })
  it('filters category, town and state; open excludes closed', () => {
    expect(matches(a, f({ category: 'city.ads' }), NOW)).toBe(true)
    expect(matches(b, f({ category: 'city.ads' }), NOW)).toBe(false)
    expect(matches(b, f({ town: 'T2' }), NOW)).toBe(true)
    expect(matches(b, f({ state: 'open' }), NOW)).toBe(false)
    expect(matches(a, f({ state: 'dispatched' }), NOW)).toBe(true)
  })
  it('overdue only for open cases past the deadline', () => {
    expect(matches(a, f({ overdue: true }), NOW)).toBe(true)
    expect(matches(b, f({ overdue: true }), NOW)).toBe(false)
  })
  it('text matches every word, case-insensitively, in id, title and place names', () => {
    expect(matches(a, f({ text: '三沙 广告' }), NOW)).toBe(true)
    expect(matches(a, f({ text: 'inc-a' }), NOW)).toBe(true)
    expect(matches(a, f({ text: '三沙 噪声' }), NOW)).toBe(false)
  })
})

describe('countdown colours', () => {
  it('is none without a deadline or when closed', () => {
    expect(urgency(undefined, null, NOW)).toBe('none')
    expect(urgency(iso(NOW - H), null, NOW, 'closed')).toBe('none')
  })
  it('is red past the deadline', () => expect(urgency(iso(NOW - 1000), NOW - 10 * H, NOW)).toBe('over'))
  it('is amber under 2 hours whatever the allowed time', () => expect(urgency(iso(NOW + 1.5 * H), NOW - 100 * H, NOW)).toBe('warn'))
  it('is amber under 25 % of the allowed time', () => {
    // 72 h allowed, 10 h left (< 18 h)
    expect(urgency(iso(NOW + 10 * H), NOW - 62 * H, NOW)).toBe('warn')
    // 72 h allowed, 30 h left
    expect(urgency(iso(NOW + 30 * H), NOW - 42 * H, NOW)).toBe('ok')
  })
  it('formats the time left and overdue', () => {
    expect(countdown(iso(NOW + 3 * H + 5 * 60_000 + 9000), NOW)).toBe('3:05:09')
    expect(countdown(iso(NOW - 12 * 60_000 - 30_000), NOW)).toBe('-0:12:30')
    expect(countdown(iso(NOW + 51 * H), NOW)).toBe('2d 3h')
    expect(countdown(iso(NOW + 51 * H), NOW, { d: '天', h: '时' })).toBe('2天3时')
    expect(countdown('0001-01-01T00:00:00Z', NOW)).toBe('')
  })
})

describe('order', () => {
  it('puts overdue first, then severity, then the nearest deadline', () => {
    const list = [
      inc({ id: 'late', severity: 4, task: { deadline: iso(NOW - H) } }),
      inc({ id: 'sev1', severity: 1, task: { deadline: iso(NOW + 9 * H) } }),
      inc({ id: 'soon', severity: 4, task: { deadline: iso(NOW + H) } }),
      inc({ id: 'later', severity: 4, task: { deadline: iso(NOW + 5 * H) } }),
      inc({ id: 'none', severity: 4 }),
    ]
    expect(list.sort((x, y) => compareQueue(x, y, NOW)).map((x) => x.id)).toEqual(['late', 'sev1', 'soon', 'later', 'none'])
  })
})

describe('snapshot and deltas', () => {
  it('reads a snapshot, skipping malformed entries', () => {
    expect(snapshotIncidents({ incidents: [{ id: 'a' }, null, { id: 3 }, { id: '' }] }).map((x) => x.id)).toEqual(['a'])
    expect(snapshotIncidents(null)).toEqual([])
  })
  it('upserts by id and ignores older versions', () => {
    const m = new Map<string, QueueIncident>()
    expect(applyDelta(m, 'incident', inc({ id: 'a', version: 2 }))).toMatchObject({ kind: 'upsert', isNew: true })
    expect(applyDelta(m, 'incident', inc({ id: 'a', version: 1 }))).toEqual({ kind: 'ignore' })
    expect(applyDelta(m, 'incident', inc({ id: 'a', version: 3, state: 'handled' }))).toMatchObject({ kind: 'upsert', isNew: false })
    expect(m.get('a')?.state).toBe('handled')
  })
  it('drops on remove unless what is held is newer', () => {
    const m = new Map<string, QueueIncident>([['a', inc({ id: 'a', version: 5 })]])
    expect(applyDelta(m, 'remove', { id: 'a', version: 4 })).toEqual({ kind: 'ignore' })
    expect(applyDelta(m, 'remove', { id: 'a', version: 5 })).toEqual({ kind: 'remove', id: 'a' })
    expect(m.size).toBe(0)
    expect(applyDelta(m, 'remove', { id: 'zzz' })).toEqual({ kind: 'ignore' })
    expect(applyDelta(m, 'stats', {})).toEqual({ kind: 'ignore' })
  })
  it('alarms only for severity I/II that are still open', () => {
    expect(wantsAlarm(inc({ id: 'a', severity: 1 }))).toBe(true)
    expect(wantsAlarm(inc({ id: 'a', severity: 2, state: 'closed' }))).toBe(false)
    expect(wantsAlarm(inc({ id: 'a', severity: 3 }))).toBe(false)
  })
})
