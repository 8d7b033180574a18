import { beforeEach, describe, expect, it } from 'vitest'
import { applyDelta, applySnapshot, baseVersion, fmtCountdown, incidents, offlineAllowed, outboxItems, shownState, taskList } from './tasks'

const task = (id: string, state: string, version = 3, worker = 'worker') => ({
  id,
  state,
  version,
  task: { id: `TSK-${id}-1`, worker_id: worker, deadline: '2026-11-23T10:00:00Z' },
})

describe('task store', () => {
  beforeEach(() => {
    applySnapshot({ incidents: [] })
    outboxItems.value = []
  })
  it('tells a newly dispatched task from an update', () => {
    expect(applyDelta('incident', task('A', 'dispatched'), 'worker')?.id).toBe('A')
    expect(applyDelta('incident', task('A', 'dispatched', 4), 'worker')).toBeNull()
    expect(applyDelta('incident', task('A', 'accepted', 5), 'worker')).toBeNull()
    expect(applyDelta('incident', task('A', 'dispatched', 2), 'worker')).toBeNull() // older version ignored
    expect(incidents.get('A')?.state).toBe('accepted')
    applyDelta('remove', { id: 'A', version: 6 }, 'worker')
    expect(incidents.has('A')).toBe(false)
  })
  it('shows queued actions optimistically and bases the next command on them', () => {
    applySnapshot({ incidents: [task('B', 'in_progress', 7)] })
    const inc = incidents.get('B')!
    expect(shownState(inc)).toBe('in_progress')
    outboxItems.value = [
      { id: 'k', seq: 1, kind: 'command', createdAt: 0, label: '', incidentId: 'B', action: 'handle', attempts: 0, nextAt: 0, state: 'pending' },
    ]
    expect(shownState(inc)).toBe('handled')
    expect(baseVersion(inc)).toBe(8)
    expect(taskList.value.map((i) => i.id)).toEqual(['B'])
  })
  it('knows the worker actions of each state offline', () => {
    expect(offlineAllowed('dispatched')).toEqual(['accept', 'return'])
    expect(offlineAllowed('handled')).toEqual([])
  })
  it('counts down', () => {
    expect(fmtCountdown(3 * 3600_000 + 12 * 60_000)).toBe('剩余 3小时12分')
    expect(fmtCountdown(-20 * 60_000)).toBe('已超时 20分00秒')
    expect(fmtCountdown(null)).toBe('—')
  })
})
