import { afterEach, describe, expect, it, vi } from 'vitest'
import { englishCategory, loadCategoryNames, resetCategoryNames } from './categories'
import { categoryName } from './format'
import { setLocale } from './i18n'

function answer(status: number, body: unknown) {
  return vi.fn(async () => ({ ok: status < 300, status, statusText: String(status), json: async () => body }))
}

afterEach(() => {
  vi.unstubAllGlobals()
  resetCategoryNames()
  setLocale('zh')
})

describe('category names in English', () => {
  it('shows the Chinese name until the English ones are loaded, then the English one', async () => {
    const fetch = answer(200, { items: [{ code: 'emergency.fire', name: '火灾', name_en: 'Fire' }, { code: 'x', name_en: '' }] })
    vi.stubGlobal('fetch', fetch)
    setLocale('en')
    const inc = { id: 'a', category: 'emergency.fire', category_name: '火灾' }
    expect(categoryName(inc)).toBe('火灾') // asks for the names
    expect(fetch).toHaveBeenCalledTimes(1)
    await vi.waitFor(() => expect(categoryName(inc)).toBe('Fire'))
    expect(categoryName({ id: 'b', category: 'x', category_name: '某类' })).toBe('某类') // no English name
    setLocale('zh')
    expect(categoryName(inc)).toBe('火灾')
    expect(fetch).toHaveBeenCalledTimes(1)
  })

  it('tries again after a failure, but not at once', async () => {
    const fetch = answer(503, { error: 'unavailable' })
    vi.stubGlobal('fetch', fetch)
    await loadCategoryNames(1_000)
    await loadCategoryNames(2_000) // within 30 s of the failure: not asked again
    expect(fetch).toHaveBeenCalledTimes(1)
    vi.stubGlobal('fetch', answer(200, { items: [{ code: 'emergency.fire', name_en: 'Fire' }] }))
    await loadCategoryNames(40_000)
    expect(englishCategory('emergency.fire')).toBe('Fire')
  })
})
