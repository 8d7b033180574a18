import { describe, expect, it } from 'vitest'
import { HttpError, restoreSecondsLeft, restoring } from './api'
import { Realtime, type ChannelHandler, type ConnStatus, type SocketLike } from './realtime'

/** A scripted socket: the test drives open/message/close by hand. */
class FakeSocket implements SocketLike {
  readyState = 0
  sent: unknown[] = []
  closed = false
  onopen: ((ev: Event) => void) | null = null
  onmessage: ((ev: MessageEvent) => void) | null = null
  onclose: ((ev: CloseEvent) => void) | null = null
  onerror: ((ev: Event) => void) | null = null
  constructor(readonly protocols: string[]) {}
  send(data: string) {
    this.sent.push(JSON.parse(data))
  }
  close() {
    this.closed = true
    this.readyState = 3
  }
  open() {
    this.readyState = 1
    this.onopen?.({} as Event)
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) } as MessageEvent)
  }
  drop(code = 1006) {
    this.readyState = 3
    this.onclose?.({ code, reason: '' } as CloseEvent)
  }
}

function harness(opts: { tickets?: (() => Promise<string>)[] } = {}) {
  const sockets: FakeSocket[] = []
  const timers: { fn: () => void; ms: number }[] = []
  const statuses: ConnStatus[] = []
  const log: string[] = []
  let ticketCalls = 0
  const handler: ChannelHandler = {
    onSnapshot: (d) => log.push(`snapshot ${JSON.stringify(d)}`),
    onDelta: (k, d) => log.push(`delta ${k} ${JSON.stringify(d)}`),
    onReload: (r) => log.push(`reload ${r}`),
  }
  const rt = new Realtime({
    ticket: () => {
      const t = opts.tickets?.[ticketCalls]
      ticketCalls++
      return t ? t() : Promise.resolve(`t${ticketCalls}`)
    },
    open: (p) => {
      const s = new FakeSocket(p)
      sockets.push(s)
      return s
    },
    onStatus: (s) => statuses.push(s),
    random: () => 1,
    now: () => 0,
    setTimer: (fn, ms) => {
      timers.push({ fn, ms })
      return timers.length
    },
    clearTimer: () => {},
  })
  rt.subscribe('wall', handler)
  return { rt, sockets, timers, statuses, log, tickets: () => ticketCalls }
}

const flush = () => new Promise((r) => setTimeout(r, 0))

describe('Realtime', () => {
  it('sends the ticket as a subprotocol and subscribes without since at first', async () => {
    const h = harness()
    h.rt.start()
    await flush()
    const s = h.sockets[0]!
    expect(s.protocols).toEqual(['citybrain.v1', 'ticket.t1'])
    s.open()
    expect(s.sent).toEqual([{ op: 'subscribe', channel: 'wall' }])
    expect(h.rt.current.state).toBe('open')
  })

  it('delivers snapshot and deltas and resumes from the last seq after a drop', async () => {
    const h = harness()
    h.rt.start()
    await flush()
    const s = h.sockets[0]!
    s.open()
    s.receive({ type: 'snapshot', channel: 'wall', seq: 'a1', data: { n: 1 } })
    s.receive({ type: 'delta', channel: 'wall', seq: 'a2', kind: 'incident', data: { id: 'X' } })
    s.receive({ type: 'delta', channel: 'other', seq: 'zz', kind: 'incident', data: {} })
    expect(h.log).toEqual(['snapshot {"n":1}', 'delta incident {"id":"X"}'])
    s.drop()
    expect(h.rt.current.state).toBe('waiting')
    expect(h.timers).toHaveLength(1)
    h.timers[0]!.fn()
    await flush()
    expect(h.tickets()).toBe(2)
    const s2 = h.sockets[1]!
    expect(s2.protocols[1]).toBe('ticket.t2')
    s2.open()
    expect(s2.sent).toEqual([{ op: 'subscribe', channel: 'wall', since: 'a2' }])
  })

  it('backs off exponentially to 30 s while failing and resets after a snapshot', async () => {
    const h = harness()
    h.rt.start()
    await flush()
    for (let i = 0; i < 7; i++) {
      h.sockets[i]!.drop()
      h.timers[i]!.fn()
      await flush()
    }
    expect(h.timers.map((t) => t.ms)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000])
    const s = h.sockets[7]!
    s.open()
    s.receive({ type: 'snapshot', channel: 'wall', seq: '1', data: {} })
    s.drop()
    expect(h.timers[7]!.ms).toBe(1000)
  })

  it('applies jitter between half and all of the delay', () => {
    const h = harness()
    const lo = new Realtime({ ticket: async () => 't', open: () => new FakeSocket([]), random: () => 0 })
    expect(lo.delayFor(1)).toBe(500)
    expect(lo.delayFor(10)).toBe(15000)
    expect(h.rt.delayFor(3)).toBe(4000)
  })

  it('retries when no ticket can be had', async () => {
    const h = harness({ tickets: [() => Promise.reject(new Error('401 Unauthorized'))] })
    h.rt.start()
    await flush()
    expect(h.sockets).toHaveLength(0)
    expect(h.rt.current.state).toBe('waiting')
    expect(h.rt.current.error).toContain('401')
    h.timers[0]!.fn()
    await flush()
    expect(h.sockets).toHaveLength(1)
  })

  it('on reload drops the seq, tells the page and subscribes again without since', async () => {
    const h = harness()
    h.rt.start()
    await flush()
    const s = h.sockets[0]!
    s.open()
    s.receive({ type: 'snapshot', channel: 'wall', seq: '5', data: {} })
    s.receive({ type: 'reload', channel: 'wall', reason: 'retention' })
    expect(h.log.at(-1)).toBe('reload retention')
    expect(s.sent.at(-1)).toEqual({ op: 'subscribe', channel: 'wall' })
    s.drop()
    h.timers[0]!.fn()
    await flush()
    h.sockets[1]!.open()
    expect(h.sockets[1]!.sent).toEqual([{ op: 'subscribe', channel: 'wall' }])
  })

  it('ignores garbage and keeps going; records server errors', async () => {
    const h = harness()
    h.rt.start()
    await flush()
    const s = h.sockets[0]!
    s.open()
    s.onmessage?.({ data: 'not json' } as MessageEvent)
    s.receive(null)
    s.receive({ type: 'error', code: 'bad_request', message: '未知频道' })
    s.receive({ type: 'delta', channel: 'wall', seq: '2', kind: 'stats', data: { open: 1 } })
    expect(h.rt.current.error).toContain('未知频道')
    expect(h.log).toEqual(['delta stats {"open":1}'])
    expect(h.rt.current.lastMessageAt).toBe(0)
  })

  it('reconnects with backoff when the server cannot serve the subscription', async () => {
    const h = harness()
    h.rt.start()
    await flush()
    const s = h.sockets[0]!
    s.open()
    s.receive({ type: 'error', code: 'unavailable', message: 'snapshot failed, subscribe again' })
    expect(s.closed).toBe(true)
    s.drop(4000)
    expect(h.timers[0]!.ms).toBe(1000)
  })

  it('stop closes the socket and never reconnects', async () => {
    const h = harness()
    h.rt.start()
    await flush()
    const s = h.sockets[0]!
    s.open()
    h.rt.stop()
    expect(s.closed).toBe(true)
    s.drop(1000)
    expect(h.timers).toHaveLength(0)
    expect(h.rt.current.state).toBe('stopped')
  })

  it('while the server restores, says so with the progress and asks again at its Retry-After, not the backoff', async () => {
    const restoringErr = (done: number, after: number | null) =>
      new HttpError(503, '/api/v1/auth/ws-ticket', 'the situation is being restored', { code: 'restoring', progress: { done, total: 8000, since: '2026-12-07T03:00:00Z' } }, after)
    const h = harness({
      tickets: [() => Promise.reject(restoringErr(2000, 5000)), () => Promise.reject(restoringErr(6000, null)), () => Promise.reject(restoringErr(7000, 5000))],
    })
    h.rt.start()
    await flush()
    expect(h.rt.current).toMatchObject({ state: 'waiting', attempt: 1, restoring: { done: 2000, total: 8000, percent: 25 } })
    expect(h.timers[0]!.ms).toBe(5000)
    h.timers[0]!.fn()
    await flush()
    // No Retry-After: 2 s, however many attempts.
    expect(h.rt.current).toMatchObject({ state: 'waiting', attempt: 2, restoring: { percent: 75 } })
    expect(h.timers[1]!.ms).toBe(2000)
    h.timers[1]!.fn()
    await flush()
    expect(h.timers[2]!.ms).toBe(5000)
    h.timers[2]!.fn()
    await flush()
    // Restored: the ticket is had, the socket opens, the status is clear.
    const s = h.sockets[0]!
    s.open()
    expect(h.rt.current).toMatchObject({ state: 'open', restoring: null, error: null })
  })
})

describe('restoring on the socket', () => {
  it('a subscription refused as restoring closes the socket and waits as restoring, not as a fault', async () => {
    const h = harness()
    h.rt.start()
    await flush()
    const s = h.sockets[0]!
    s.open()
    s.receive({ type: 'error', code: 'restoring', message: 'the situation is being restored' })
    expect(s.closed).toBe(true)
    s.drop(4000)
    expect(h.rt.current).toMatchObject({ state: 'waiting', restoring: { percent: null } })
    expect(h.timers[0]!.ms).toBe(2000)
    h.timers[0]!.fn()
    await flush()
    h.sockets[1]!.open()
    expect(h.rt.current).toMatchObject({ state: 'open', restoring: null })
  })
})

describe('restoring', () => {
  it('reads the progress of a 503 "restoring" and nothing else', () => {
    const e = (status: number, body: unknown) => new HttpError(status, '/x', 'm', body)
    expect(restoring(e(503, { code: 'restoring', progress: { done: 1, total: 3 } }))).toEqual({ done: 1, total: 3, percent: 33 })
    expect(restoring(e(503, { code: 'restoring', progress: { done: 0, total: 0 } }))).toEqual({ done: 0, total: 0, percent: 100 })
    expect(restoring(e(503, { code: 'restoring' }))).toEqual({ done: null, total: null, percent: null })
    expect(restoring(e(503, { code: 'restoring', progress: { done: 'x', total: -1 } }))).toEqual({ done: null, total: null, percent: null })
    expect(restoring(e(503, { error: 'redis down' }))).toBeNull()
    expect(restoring(e(500, { code: 'restoring' }))).toBeNull()
    expect(restoring(new Error('offline'))).toBeNull()
  })
})

describe('restoreSecondsLeft', () => {
  it('tells the time left at the pace seen, or nothing when it cannot', () => {
    expect(restoreSecondsLeft({ done: 5000, at: 0 }, { done: 15000, at: 2000 }, 40000)).toBe(5)
    expect(restoreSecondsLeft({ done: 5000, at: 0 }, { done: 15000, at: 2000 }, 15000)).toBe(0)
    expect(restoreSecondsLeft({ done: 5000, at: 0 }, { done: 5000, at: 4000 }, 40000)).toBeNull()
    expect(restoreSecondsLeft({ done: 5000, at: 0 }, { done: 6000, at: 500 }, 40000)).toBeNull()
  })
})
