// Why the case state machine refused a command, for people. The server's message is English,
// written for API clients (services/casestate/rules.go: "stale: escalate in state dispatched: the
// command is based on version 10 but …"); in Chinese the UI says it from the refusal's code, the
// action and the state, and keeps the message as the detail (a tooltip, the outbox entry). In
// English it shows the message itself.

import { stateName } from './format'
import { locale, t } from './i18n'

/** action is the action's label in the caller's words (签收, 督办 …); state a case state code. */
export function refusalSentence(r: { code?: string; action?: string; state?: string; message?: string }): string {
  const msg = r.message ?? ''
  if (locale.value !== 'zh' && msg !== '') return msg
  const a = r.action ?? ''
  switch (r.code || msg.split(':')[0]) {
    case 'stale': {
      const v = /based on version (\d+) but .* at version (\d+)/.exec(msg)
      return v ? t('refusal.stale', { base: v[1] ?? '', now: v[2] ?? '' }) : t('refusal.staleAny')
    }
    case 'not_allowed':
    case 'not allowed':
      return r.state ? t('refusal.notAllowed', { a, s: stateName(r.state) }) : t('refusal.notAllowedNow', { a })
    case 'forbidden':
      return t('refusal.forbidden', { a })
    case 'invalid':
      return t('refusal.invalid')
  }
  return msg || (r.code ?? '')
}
