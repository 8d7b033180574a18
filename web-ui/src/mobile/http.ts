// The phone's requests: JSON with the bearer token, answers as {status, body} (status 0 = no
// answer), so the outbox can classify them and the UI can show the server's reason.

import { refusalSentence } from '../lib/refusal'
import { tm, type MobileKey } from './messages'
import { token } from './session'
import type { OutboxItem, SendResult } from './outbox'

async function send(method: string, url: string, body: BodyInit | undefined, headers: Record<string, string>, timeoutMs = 20000): Promise<SendResult> {
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), timeoutMs)
  const h: Record<string, string> = { Accept: 'application/json', ...headers }
  const tok = token()
  if (tok) h.Authorization = `Bearer ${tok}`
  try {
    const res = await fetch(url, { method, headers: h, body, signal: ctrl.signal, credentials: 'same-origin', cache: 'no-store' })
    const data: unknown = await res.json().catch(() => undefined)
    const err = (data as { error?: unknown } | undefined)?.error
    return { status: res.status, body: data, error: res.ok ? undefined : typeof err === 'string' ? err : `HTTP ${res.status}` }
  } catch (e) {
    return { status: 0, error: e instanceof Error && e.name === 'AbortError' ? '请求超时' : '网络不可用' }
  } finally {
    clearTimeout(timer)
  }
}

export function getJSON(url: string): Promise<SendResult> {
  return send('GET', url, undefined, {})
}

export function postJSON(url: string, body: unknown, headers: Record<string, string> = {}): Promise<SendResult> {
  return send('POST', url, JSON.stringify(body), { 'Content-Type': 'application/json', ...headers })
}

/** Sends one outbox item: a photo upload, a task command (Idempotency-Key) or a grid report. */
export function sendItem(item: OutboxItem): Promise<SendResult> {
  switch (item.kind) {
    case 'photo':
      if (!item.blob) return Promise.resolve({ status: 400, error: '照片数据丢失' })
      return send('POST', '/api/v1/media', item.blob, { 'Content-Type': item.blob.type || 'image/jpeg' }, 60000)
    case 'command':
      return postJSON(`/api/v1/tasks/${encodeURIComponent(item.incidentId ?? '')}/${encodeURIComponent(item.action ?? '')}`, item.body ?? {}, {
        'Idempotency-Key': item.id,
      }).then((res) => refused(res, item))
    case 'report':
      return postJSON('/api/v1/ingest/grid', item.body ?? {}, { 'Idempotency-Key': item.id })
  }
}

/** A command the state machine refused says why in the worker's language (lib/refusal.ts); the
 *  server's own message (English, for API clients) stays in the result's body. */
function refused(res: SendResult, item: OutboxItem): SendResult {
  const code = (res.body as { code?: unknown } | undefined)?.code
  if (res.status !== 409 && res.status !== 403) return res
  if (typeof code !== 'string' || code === '') return res
  const action = tm(`action.${item.action ?? ''}` as MobileKey)
  return { ...res, error: refusalSentence({ code, action, message: res.error }) }
}
