// Synthetic open incidents for the page-level performance test (window.__consoleTest, ?e2e=1 only).

import type { QueueIncident } from './queue'

const TOWNS = [
  ['321204001000', '罗塘街道'],
  ['321204002000', '三水街道'],
  ['321204101000', '溱潼镇'],
  ['321204102000', '娄庄镇'],
  ['321204103000', '沈高镇'],
]
const CATS = [
  ['city.ads.illegal', '违规广告'],
  ['city.construction.illegal', '违法建设'],
  ['env.noise', '噪声扰民'],
  ['traffic.accident', '交通事故'],
  ['emergency.fire', '火灾'],
]
const SRCS = ['hotline', 'grid', 'emergency', 'traffic']
const STATES = ['received', 'filed', 'dispatched', 'accepted', 'in_progress', 'handled']

/** n deterministic incidents around `now`, some overdue, some close to their deadline. */
export function syntheticIncidents(n: number, now: number): QueueIncident[] {
  const out: QueueIncident[] = []
  for (let i = 0; i < n; i++) {
    const town = TOWNS[i % TOWNS.length] as string[]
    const cat = CATS[(i * 7) % CATS.length] as string[]
    const state = STATES[(i * 3) % STATES.length] as string
    const first = now - ((i * 37) % 72) * 3600_000
    const deadline = state === 'received' || state === 'filed' ? undefined : new Date(first + (((i * 13) % 96) + 1) * 3600_000).toISOString()
    out.push({
      id: `INC-TEST${String(i).padStart(6, '0')}`,
      version: 1,
      state,
      category: cat[0],
      category_name: cat[1],
      severity: (i % 17 === 0 ? 1 : i % 7 === 0 ? 2 : i % 3 === 0 ? 3 : 4),
      title: `测试案件 ${i} ${cat[1]}`,
      source: SRCS[i % SRCS.length],
      sources: { [SRCS[i % SRCS.length] as string]: 1 },
      event_count: 1,
      location: { lon: 120.1 + (i % 100) * 0.002, lat: 32.4 + (i % 77) * 0.002 },
      place: { town: { code: town[0], name: town[1] }, village: { code: `${town[0]}-${i % 20}`, name: `第${(i % 20) + 1}社区` } },
      first_seen: new Date(first).toISOString(),
      task: deadline ? { id: `TSK-TEST${i}-1`, state, department: '城市管理局', deadline } : null,
    })
  }
  return out
}
