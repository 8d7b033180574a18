// Who is signed in on this wall, read from the stored token's claims — only to decide whether to
// show the 战时 switch; the server checks the role again on every request.
import { authToken } from '../lib/api'

/** The role in the stored token, or null (anonymous viewer, expired or unreadable token). */
export function signedInRole(now = Date.now()): string | null {
  const tok = authToken()
  const part = tok?.split('.')[1]
  if (!part) return null
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'))
    const c = JSON.parse(json) as { role?: unknown; exp?: unknown }
    if (typeof c.exp === 'number' && c.exp * 1000 < now) return null
    return typeof c.role === 'string' ? c.role : null
  } catch {
    return null
  }
}

/** Whether the signed-in user may switch the wall mode (dispatcher, admin). */
export function canCommand(): boolean {
  const r = signedInRole()
  return r === 'dispatcher' || r === 'admin'
}
