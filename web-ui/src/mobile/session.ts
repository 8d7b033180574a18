// The worker's session: the token from POST /api/v1/auth/login kept in localStorage (under the
// key api.ts reads, so every request of the shared client carries it). The phone stays signed in
// until the token expires; then — or on any 401 — the app goes back to the login screen.

import { ref } from 'vue'

const TOKEN_KEY = 'citybrain.token'
const PROFILE_KEY = 'citybrain.m.profile'

export interface Profile {
  /** The user id (worker_id of tasks and reports). */
  sub: string
  name: string
  role: string
  /** A worker's grid code. */
  scope: string
  department: string
  /** Token expiry, ms. */
  exp: number
}

/** The claims in a JWT's payload (not verified here: the server does that). */
export function decodeClaims(token: string): Partial<{ sub: string; name: string; role: string; scope: string; department: string; exp: number }> {
  const part = token.split('.')[1]
  if (!part) return {}
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/')
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0))
    return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, never>
  } catch {
    return {}
  }
}

function load(): Profile | null {
  try {
    const tok = localStorage.getItem(TOKEN_KEY)
    const raw = localStorage.getItem(PROFILE_KEY)
    if (!tok || !raw) return null
    const p = JSON.parse(raw) as Profile
    return p.exp > Date.now() ? p : null
  } catch {
    return null
  }
}

/** The signed-in worker, or null. */
export const profile = ref<Profile | null>(load())

export function token(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

/** Signs in; rejects with the server's reason. */
export async function login(username: string, password: string): Promise<Profile> {
  const res = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ username, password }),
  })
  const body = (await res.json().catch(() => ({}))) as { token?: string; error?: string; role?: string; name?: string; scope?: string }
  if (!res.ok || !body.token) throw new LoginError(res.status, body.error ?? `HTTP ${res.status}`)
  const c = decodeClaims(body.token)
  const p: Profile = {
    sub: c.sub ?? username,
    name: body.name ?? c.name ?? username,
    role: body.role ?? c.role ?? '',
    scope: body.scope ?? c.scope ?? '',
    department: c.department ?? '',
    exp: (c.exp ?? 0) * 1000 || Date.now() + 12 * 3600_000,
  }
  localStorage.setItem(TOKEN_KEY, body.token)
  localStorage.setItem(PROFILE_KEY, JSON.stringify(p))
  profile.value = p
  return p
}

export class LoginError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** Signs out (or the token expired): the outbox stays for the next sign-in. */
export function logout(): void {
  try {
    localStorage.removeItem(TOKEN_KEY)
    localStorage.removeItem(PROFILE_KEY)
  } catch {
    // storage unavailable: nothing to clear
  }
  profile.value = null
}

/** Logs out when the token has expired; true while the session is valid. */
export function checkExpiry(now = Date.now()): boolean {
  if (profile.value && profile.value.exp <= now) logout()
  return profile.value !== null
}
