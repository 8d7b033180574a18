import { afterEach, describe, expect, it } from 'vitest'
import { setLocale } from '../lib/i18n'
import { refusalText } from './messages'

afterEach(() => setLocale('zh'))

// The server's messages (services/casestate/rules.go) are English, for API clients.
const STALE = 'stale: escalate in state dispatched: the command is based on version 10 but case INC-X is at version 11; reload and try again'
const NOT_ALLOWED = 'not allowed: return in state accepted: the window for 退单 closed at 2026-12-07T11:00:00+08:00'

describe('refusalText', () => {
  it('says in Chinese why a command was refused, from its code', () => {
    expect(refusalText({ code: 'stale', action: 'escalate', message: STALE })).toBe('版本冲突，未执行（操作基于 v10，案件已是 v11）')
    expect(refusalText({ code: 'stale', action: 'escalate', message: 'stale' })).toBe('版本冲突，未执行（案件已被他人更新）')
    expect(refusalText({ code: 'not_allowed', action: 'escalate', state: 'closed', message: NOT_ALLOWED })).toBe('「已结案」状态下不能督办')
    expect(refusalText({ code: 'not_allowed', action: 'escalate', message: NOT_ALLOWED })).toBe('当前状态下不能督办')
    expect(refusalText({ code: 'forbidden', action: 'escalate', message: 'forbidden: …' })).toBe('无权督办')
    // Without a code (an older entry), from the message's first word.
    expect(refusalText({ action: 'escalate', message: STALE })).toBe('版本冲突，未执行（操作基于 v10，案件已是 v11）')
    expect(refusalText({ code: 'something_new', message: 'why' })).toBe('why')
  })

  it('gives the server message in English', () => {
    setLocale('en')
    expect(refusalText({ code: 'stale', action: 'escalate', message: STALE })).toBe(STALE)
    expect(refusalText({ code: 'forbidden', action: 'escalate' })).toBe('Not permitted: Escalate') // no message: from the code
  })
})
