// Photos attached to reports and to a worker's 处理反馈 are URLs or media ids (served by
// /api/v1/media/{id}). Same-origin ones are fetched with the session's token (an <img> cannot send
// it) and shown from a blob URL; other origins are never loaded (the console works offline).

import { session } from './session'

/** The same-origin URL of a photo reference, or null for another origin. */
export function photoURL(ref: string): string | null {
  const r = ref.trim()
  if (!r) return null
  if (/^(data|blob):/.test(r)) return r
  if (/^https?:\/\//i.test(r)) {
    try {
      return new URL(r).origin === location.origin ? r : null
    } catch {
      return null
    }
  }
  if (r.startsWith('/')) return r
  return `/api/v1/media/${r.split('/').map(encodeURIComponent).join('/')}`
}

const cache = new Map<string, Promise<string | null>>()

/** A displayable URL of the photo (a blob URL), or null when it cannot be had. */
export function loadPhoto(ref: string): Promise<string | null> {
  const url = photoURL(ref)
  if (url === null) return Promise.resolve(null)
  if (/^(data|blob):/.test(url)) return Promise.resolve(url)
  let p = cache.get(url)
  if (!p) {
    const headers: Record<string, string> = {}
    if (session.token) headers.Authorization = `Bearer ${session.token}`
    p = fetch(url, { headers })
      .then(async (res) => {
        const type = res.headers.get('Content-Type') ?? ''
        if (!res.ok || !type.startsWith('image/')) return null
        return URL.createObjectURL(await res.blob())
      })
      .catch(() => null)
    cache.set(url, p)
  }
  return p
}
