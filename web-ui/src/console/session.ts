// The dispatcher's session: log in (POST /api/v1/auth/login), keep the token in sessionStorage (it
// goes with the tab, not the browser), log out, and an authorised fetch for the console's calls that
// ends the session on a 401 so the page goes back to the login form.

import { reactive } from 'vue'
import { HttpError } from '../lib/api'
import { SESSION_TOKEN_KEY } from '../lib/api'

export interface User {
  name: string
  role: string
  scope: string
}

const USER_KEY = 'citybrain.console.user'

export const session = reactive<{ token: string | null; user: User | null; expired: boolean }>({
  token: null,
  user: null,
  expired: false,
})

function storage(): Storage | null {
  try {
    return sessionStorage
  } catch {
    return null
  }
}

/** Restores a session of this tab, if any. */
export function restoreSession(): void {
  const s = storage()
  const token = s?.getItem(SESSION_TOKEN_KEY) ?? null
  let user: User | null = null
  try {
    user = JSON.parse(s?.getItem(USER_KEY) ?? 'null') as User | null
  } catch {
    user = null
  }
  if (token && user && typeof user.name === 'string') {
    session.token = token
    session.user = user
  }
}

/** The account is valid but its role may not use this page. */
export class RoleError extends Error {
  constructor(readonly role: string) {
    super(`role ${role} may not use the console`)
    this.name = 'RoleError'
  }
}

/**
 * Logs in; throws HttpError (401 for wrong credentials), RoleError (a role not in `roles`: nothing
 * is stored) or a network error.
 */
export async function login(username: string, password: string, roles: readonly string[] = ['dispatcher', 'admin']): Promise<User> {
  const res = await fetch('/api/v1/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ username, password }),
  })
  const body = (await res.json().catch(() => ({}))) as { token?: string; name?: string; role?: string; scope?: string; error?: string }
  if (!res.ok || typeof body.token !== 'string') throw new HttpError(res.status, '/api/v1/auth/login', body.error ?? `${res.status}`)
  const user: User = { name: body.name ?? username, role: body.role ?? '', scope: body.scope ?? '' }
  if (!roles.includes(user.role)) throw new RoleError(user.role)
  storage()?.setItem(SESSION_TOKEN_KEY, body.token)
  storage()?.setItem(USER_KEY, JSON.stringify(user))
  session.token = body.token
  session.user = user
  session.expired = false
  return user
}

/** Ends the session (expired = the server refused the token, so the login form says why). */
export function logout(expired = false): void {
  storage()?.removeItem(SESSION_TOKEN_KEY)
  storage()?.removeItem(USER_KEY)
  session.token = null
  session.user = null
  session.expired = expired
}

/** The parsed answer of an API call, with its status (the caller branches on 409 and 422). */
export interface ApiAnswer<T> {
  status: number
  body: T
}

/**
 * An authorised request. A 401 logs out (the page shows the login form); other non-2xx answers are
 * returned, not thrown, so the caller can show the server's reason. Network failures throw.
 */
export async function api<T = unknown>(method: string, url: string, body?: unknown, headers: Record<string, string> = {}, timeoutMs = 20000): Promise<ApiAnswer<T>> {
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), timeoutMs)
  const h: Record<string, string> = { Accept: 'application/json', ...headers }
  if (session.token) h.Authorization = `Bearer ${session.token}`
  if (body !== undefined) h['Content-Type'] = 'application/json'
  try {
    const res = await fetch(url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal: ctrl.signal })
    if (res.status === 401) {
      logout(true)
      throw new HttpError(401, url, 'unauthorized')
    }
    const parsed = (await res.json().catch(() => null)) as T
    return { status: res.status, body: parsed }
  } finally {
    clearTimeout(timer)
  }
}

/** GET that throws HttpError on anything but 2xx. */
export async function getJSON<T>(url: string): Promise<T> {
  const a = await api<T>('GET', url)
  if (a.status < 200 || a.status > 299) {
    const msg = (a.body as { error?: string } | null)?.error ?? String(a.status)
    throw new HttpError(a.status, url, msg)
  }
  return a.body
}
