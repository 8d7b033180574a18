import { afterEach, describe, expect, it, vi } from 'vitest'
import { setLocale } from '../lib/i18n'
import { sendItem } from './http'
import type { OutboxItem } from './outbox'

const NOT_ALLOWED = 'not allowed: return in state accepted: the window for 退单 closed at 2026-12-07T11:00:00+08:00'

function answer(status: number, body: unknown) {
  vi.stubGlobal('fetch', vi.fn(async () => ({ ok: status < 300, status, json: async () => body })))
}

const command: OutboxItem = { id: 'k1', seq: 1, kind: 'command', createdAt: 0, label: '退单 · 三水大道7号', incidentId: 'INC-1', action: 'return', body: {}, attempts: 0, nextAt: 0, state: 'pending' }

afterEach(() => {
  vi.unstubAllGlobals()
  setLocale('zh')
})

describe('a refused command', () => {
  it('says why in Chinese, from the refusal code', async () => {
    answer(409, { code: 'not_allowed', error: NOT_ALLOWED })
    const res = await sendItem(command)
    expect(res.status).toBe(409)
    expect(res.error).toBe('当前状态下不能退单')
    expect((res.body as { error?: string }).error).toBe(NOT_ALLOWED) // the detail stays
  })

  it('keeps the server message in English, and other answers as they are', async () => {
    setLocale('en')
    answer(409, { code: 'not_allowed', error: NOT_ALLOWED })
    expect((await sendItem(command)).error).toBe(NOT_ALLOWED)
    setLocale('zh')
    answer(422, { error: 'note: required' })
    expect((await sendItem(command)).error).toBe('note: required')
  })
})
