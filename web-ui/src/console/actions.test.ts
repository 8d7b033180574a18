import { describe, expect, it } from 'vitest'
import { buildRequest, buttonsFor, fieldsFor, validate } from './actions'

const NOW = Date.parse('2026-11-22T04:00:00Z')
const ctx = { incidentId: 'INC-A', now: NOW, department: '城市管理局', workerId: 'W1', eventIds: ['EV-1', 'EV-2'] }

describe('action → fields', () => {
  it('follows the state machine table', () => {
    const names = (a: string) => fieldsFor(a).map((f) => `${f.name}${f.required ? '*' : ''}`)
    expect(names('dispatch')).toEqual(['department*', 'worker_id', 'deadline'])
    expect(names('reassign')).toEqual(['department*', 'worker_id', 'deadline', 'reason*'])
    expect(names('reject')).toEqual(['reason*'])
    expect(names('visit')).toEqual(['rating', 'note'])
    expect(names('rate')).toEqual(['rating*'])
    expect(names('merge')).toEqual(['merge_into*', 'reason*'])
    expect(names('split')).toEqual(['event_id*', 'reason*'])
    expect(names('verify')).toEqual(['note'])
    expect(names('something_new')).toEqual(['reason'])
  })
  it('offers merge_in whenever merge is allowed, in a stable order', () => {
    expect(buttonsFor(['split', 'merge', 'reassign', 'cancel', 'escalate'])).toEqual(['reassign', 'escalate', 'merge', 'merge_in', 'split', 'cancel'])
  })
})

describe('validation', () => {
  it('requires the required fields', () => {
    expect(validate('reject', {}, ctx)).toEqual({ reason: 'required' })
    expect(validate('reject', { reason: '  ' }, ctx)).toEqual({ reason: 'required' })
    expect(validate('reject', { reason: '重复' }, ctx)).toEqual({})
  })
  it('wants a deadline in the future', () => {
    expect(validate('dispatch', { department: 'X', deadline: '2026-11-21T10:00' }, ctx).deadline).toBe('past')
    expect(validate('dispatch', { department: 'X', deadline: 'tomorrow' }, ctx).deadline).toBe('badTime')
    expect(validate('dispatch', { department: 'X', deadline: '2026-11-29T10:00' }, ctx)).toEqual({})
  })
  it('checks ratings, merge targets and reports', () => {
    expect(validate('rate', { rating: '6' }, ctx)).toEqual({ rating: 'rating' })
    expect(validate('merge', { merge_into: 'INC-A', reason: 'x' }, ctx)).toEqual({ merge_into: 'self' })
    expect(validate('merge', { merge_into: 'INC B', reason: 'x' }, ctx)).toEqual({ merge_into: 'badId' })
    expect(validate('split', { event_id: 'EV-9', reason: 'x' }, ctx)).toEqual({ event_id: 'unknownReport' })
  })
  it('wants a reassignment to change something', () => {
    expect(validate('reassign', { department: '城市管理局', worker_id: 'W1', reason: 'x' }, ctx)).toEqual({ worker_id: 'sameAssignee' })
    expect(validate('reassign', { department: '城市管理局', worker_id: 'W2', reason: 'x' }, ctx)).toEqual({})
  })
})

describe('request', () => {
  it('sends base_version and only the filled fields', () => {
    const r = buildRequest('dispatch', { department: '城市管理局', worker_id: 'worker', deadline: '' }, 'INC-A', 7)
    expect(r).toEqual({ target: 'INC-A', action: 'dispatch', body: { base_version: 7, department: '城市管理局', worker_id: 'worker' } })
  })
  it('sends the deadline as RFC 3339 UTC and the rating as a number', () => {
    expect(buildRequest('grant_extension', { deadline: '2026-11-29T10:00:00Z' }, 'INC-A', 1).body).toEqual({ base_version: 1, deadline: '2026-11-29T10:00:00Z' })
    expect(buildRequest('visit', { rating: '4', note: '满意' }, 'INC-A', 3).body).toEqual({ base_version: 3, rating: 4, note: '满意' })
  })
  it('posts merge_in as a merge on the other incident into this one', () => {
    expect(buildRequest('merge_in', { other_id: 'INC-B', reason: '同一事件' }, 'INC-A', 4)).toEqual({ target: 'INC-B', action: 'merge', body: { base_version: 4, reason: '同一事件', merge_into: 'INC-A' } })
  })
})
