// Windowing math of the queue's virtual list: with a fixed row height, which rows are visible for a
// scroll position, so that only those (plus a few above and below) are in the DOM. With 10,000 open
// incidents the list renders a few dozen rows instead of 10,000.

export interface Window {
  /** First row index to render (inclusive). */
  start: number
  /** Last row index to render (exclusive). */
  end: number
  /** Pixels above the first rendered row (the spacer's height / the rows' translateY). */
  offset: number
  /** Height of the whole list in pixels. */
  total: number
}

/**
 * The rows to render for a viewport `height` pixels tall scrolled to `scrollTop`, with `overscan`
 * extra rows on each side. Out-of-range or non-finite inputs are clamped, never NaN.
 */
export function visibleWindow(count: number, rowHeight: number, scrollTop: number, height: number, overscan = 4): Window {
  const n = Number.isFinite(count) && count > 0 ? Math.floor(count) : 0
  const rh = Number.isFinite(rowHeight) && rowHeight > 0 ? rowHeight : 1
  const total = n * rh
  const h = Number.isFinite(height) && height > 0 ? height : 0
  const maxTop = Math.max(0, total - h)
  const top = Number.isFinite(scrollTop) ? Math.min(Math.max(0, scrollTop), maxTop) : 0
  const first = Math.floor(top / rh)
  const last = Math.ceil((top + h) / rh)
  const start = Math.max(0, first - overscan)
  const end = Math.min(n, last + overscan)
  return { start, end: Math.max(start, end), offset: start * rh, total }
}

/**
 * The scrollTop that brings row `index` fully into view with the least movement (unchanged if it
 * already is): used when the keyboard moves the cursor.
 */
export function scrollToShow(index: number, rowHeight: number, scrollTop: number, height: number): number {
  const top = index * rowHeight
  const bottom = top + rowHeight
  if (top < scrollTop) return top
  if (bottom > scrollTop + height) return Math.max(0, bottom - height)
  return scrollTop
}
