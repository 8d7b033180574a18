import { describe, expect, it } from 'vitest'
import { DASH, shortTitle, townName, fmtAge, fmtClock, fmtDateTime, fmtInt, fmtPercent, isOpen, severity, sourceName, stateName, text } from './format'

describe('format guards', () => {
  it('never prints NaN, undefined or null', () => {
    for (const v of [undefined, null, NaN, Infinity, 'abc', {}, [], '']) {
      expect(fmtInt(v)).toBe(DASH)
      expect(fmtClock(v)).toBe(DASH)
      expect(fmtDateTime(v)).toBe(DASH)
      if (v !== 'abc') expect(text(v)).toBe(DASH)
    }
    expect(text('undefined')).toBe(DASH)
    expect(fmtDateTime('0001-01-01T00:00:00Z')).toBe(DASH)
    expect(fmtPercent(1, 0)).toBe(DASH)
    expect(fmtPercent(undefined, 3)).toBe(DASH)
    expect(fmtAge(null)).toBe(DASH)
  })

  it('formats in city time (Asia/Shanghai)', () => {
    expect(fmtClock('2026-11-22T08:00:05Z')).toBe('16:00:05')
    expect(fmtDateTime('2026-11-22T20:30:00Z')).toBe('11-23 04:30')
    expect(fmtInt(12345)).toBe('12,345')
    expect(fmtPercent(1, 8)).toBe('12.5%')
    expect(fmtAge(75)).toBe('1分钟')
  })

  it('maps codes to Chinese labels with safe fallbacks', () => {
    expect(severity(1).name).toBe('特别重大')
    expect(severity(9).name).toBe('一般')
    expect(severity(undefined).name).toBe('一般')
    expect(sourceName('hotline')).toBe('12345热线')
    expect(sourceName(undefined)).toBe('其他')
    expect(stateName('in_progress')).toBe('处置中')
    expect(stateName('brand_new')).toBe('brand_new')
    expect(isOpen({ state: 'closed' })).toBe(false)
    expect(isOpen({ state: 'dispatched' })).toBe(true)
    expect(isOpen({})).toBe(true)
    expect(shortTitle({ id: 'a', title: '泰州市姜堰区三水街道人民路1号 垃圾堆放' })).toBe('三水街道人民路1号 垃圾堆放')
    expect(shortTitle({ id: 'a', category_name: '火情' })).toBe('火情')
    expect(townName({ id: 'a', place: { town: { name: '' } } })).toBe('未定位')
  })
})
