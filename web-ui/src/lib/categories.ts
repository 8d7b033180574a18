// English names of the category taxonomy, for the English UI. An incident carries its category's
// Chinese name (category_name); the English one comes from GET /api/v1/categories (name_en), loaded
// the first time the English UI asks for one, again after a failure but not more than every 30 s.
// Until it is loaded (or offline on a phone that never loaded it) the Chinese name is shown.

import { shallowRef } from 'vue'
import { getJSON } from './api'

const RETRY_MS = 30_000

const names = shallowRef<ReadonlyMap<string, string>>(new Map())
let loading = false
let lastTry = -Infinity

type Categories = { items?: { code?: unknown; name_en?: unknown }[] }

/** Loads the names (once; again after a failure). Resolves when done, whatever the outcome. */
export async function loadCategoryNames(now = Date.now()): Promise<void> {
  if (loading || names.value.size > 0 || now - lastTry < RETRY_MS) return
  loading = true
  lastTry = now
  try {
    const res = await getJSON<Categories>('/api/v1/categories')
    const m = new Map<string, string>()
    for (const c of Array.isArray(res?.items) ? res.items : []) {
      if (typeof c?.code === 'string' && typeof c.name_en === 'string' && c.name_en.trim() !== '') m.set(c.code, c.name_en)
    }
    if (m.size > 0) names.value = m
  } catch {
    // offline or the server is restarting: the Chinese names meanwhile, tried again later
  } finally {
    loading = false
  }
}

/** The English name of a category code, or undefined (unknown code, or not loaded yet: this asks for
 *  the names, and the caller's view updates when they come). */
export function englishCategory(code: string | undefined): string | undefined {
  if (!code) return undefined
  const m = names.value // read first, so a view that got nothing depends on the load
  if (m.size === 0) void loadCategoryNames()
  return m.get(code)
}

/** For tests: forget what was loaded. */
export function resetCategoryNames(): void {
  names.value = new Map()
  loading = false
  lastTry = -Infinity
}
