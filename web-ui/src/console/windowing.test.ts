import { describe, expect, it } from 'vitest'
import { scrollToShow, visibleWindow } from './windowing'

describe('visibleWindow', () => {
  it('renders only the visible rows plus overscan', () => {
    const w = visibleWindow(10000, 40, 0, 400, 4)
    expect(w).toEqual({ start: 0, end: 14, offset: 0, total: 400000 })
  })
  it('follows the scroll position', () => {
    const w = visibleWindow(10000, 40, 4000, 400, 4)
    expect(w.start).toBe(96)
    expect(w.end).toBe(114)
    expect(w.offset).toBe(96 * 40)
  })
  it('handles a partial row at the top', () => {
    const w = visibleWindow(100, 40, 50, 100, 0)
    expect([w.start, w.end]).toEqual([1, 4])
  })
  it('clamps scrolling past the end (the list shrank under a filter)', () => {
    const w = visibleWindow(20, 40, 99999, 400, 2)
    expect(w.end).toBe(20)
    expect(w.start).toBe(8)
    expect(w.total).toBe(800)
  })
  it('is empty for no rows and never NaN', () => {
    expect(visibleWindow(0, 40, 0, 400)).toEqual({ start: 0, end: 0, offset: 0, total: 0 })
    const w = visibleWindow(NaN, NaN, NaN, NaN)
    expect(Object.values(w).every(Number.isFinite)).toBe(true)
  })
  it('keeps the DOM small for 10,000 rows at any position', () => {
    for (const top of [0, 123456, 399600]) {
      const w = visibleWindow(10000, 40, top, 900, 6)
      expect(w.end - w.start).toBeLessThanOrEqual(Math.ceil(900 / 40) + 1 + 12)
    }
  })
})

describe('scrollToShow', () => {
  it('leaves a visible row alone', () => expect(scrollToShow(3, 40, 0, 400)).toBe(0))
  it('scrolls up to a row above', () => expect(scrollToShow(2, 40, 200, 400)).toBe(80))
  it('scrolls down just enough for a row below', () => expect(scrollToShow(12, 40, 0, 400)).toBe(120))
})
