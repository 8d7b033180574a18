import { afterEach, describe, expect, it } from 'vitest'
import { fmtAge, severity, stateName } from './format'
import { defineMessages, locale, setLocale, t } from './i18n'

describe('i18n', () => {
  afterEach(() => setLocale('zh'))

  it('defaults to 简体中文 and switches to English', () => {
    expect(locale.value).toBe('zh')
    expect(t('wall.title')).toBe('姜堰区城市运行管理中心')
    expect(severity(2).label + severity(2).name).toBe('Ⅱ级重大')
    setLocale('en')
    expect(t('wall.title')).toBe('Jiangyan City Operations Center')
    expect(severity(2).name).toBe('Major')
    expect(stateName('in_progress')).toBe('In progress')
    expect(fmtAge(125)).toBe('2 min')
  })

  it('fills placeholders and leaves unknown ones alone', () => {
    expect(t('conn.downRetry', { s: 5 })).toBe('连接中断 · 5秒后重连')
    expect(t('conn.downRetry')).toBe('连接中断 · {s}秒后重连')
  })
})

describe('defineMessages', () => {
  afterEach(() => setLocale('zh'))

  it('keeps page messages beside the page and follows the locale', () => {
    const tp = defineMessages({ 'q.title': '待办 {n} 件', 'q.only': '仅中文' }, { 'q.title': '{n} to do' })
    expect(tp('q.title', { n: 3 })).toBe('待办 3 件')
    setLocale('en')
    expect(tp('q.title', { n: 3 })).toBe('3 to do')
    expect(tp('q.only')).toBe('仅中文')
  })
})
