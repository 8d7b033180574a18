import { describe, expect, it } from 'vitest'
import { entryScript } from './updates'

describe('entryScript', () => {
  it('finds the module entry of a built index.html', () => {
    const html = '<head><link rel="icon" href="/favicon.svg"><script type="module" crossorigin src="/assets/index-Ab12.js"></script></head>'
    expect(entryScript(html)).toBe('/assets/index-Ab12.js')
    expect(entryScript('<script src="/x.js" type="module"></script>')).toBe('/x.js')
    expect(entryScript('<p>no script</p>')).toBeNull()
  })
})
