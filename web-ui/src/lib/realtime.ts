// The client side of the citybrain realtime protocol (citybrain.v1), shared by the wall, the
// console and the mobile app.
//
// Protocol, in short:
//   1. POST /api/v1/auth/ws-ticket → {"ticket": "...", "expires_in": 30}
//   2. new WebSocket("/ws", ["citybrain.v1", "ticket.<ticket>"])   (no token in the URL)
//   3. → {"op":"subscribe","channel":"wall","since":"<last seq>"}   (since omitted the first time)
//   4. ← {"type":"snapshot","channel","seq","data"}, then {"type":"delta","channel","seq","kind","data"}…
//      ← {"type":"reload","channel","reason"}: drop state, subscribe again without since
//      ← {"type":"error","code","message"}
// Seqs are opaque strings; the client only remembers the last one per channel. When the socket
// closes or fails, the client reconnects with exponential backoff (1 s doubling to 30 s, with
// jitter so a wall of screens does not reconnect in lockstep), fetching a fresh ticket each time,
// and resubscribes with `since` so the server can send only what was missed. While the server
// restores its situation from the event log (the ticket answers 503 "restoring"), the status says
// so with the progress, and the client asks again every Retry-After instead of backing off.

import { HttpError, restoring, type RestoreProgress } from './api'

export const PROTOCOL = 'citybrain.v1'

/** How soon to ask again while the server restores, when it gives no Retry-After. */
const RESTORING_RETRY_MS = 2000

/** What a page does with one channel's messages. */
export interface ChannelHandler {
  /** The full state of the channel; replaces whatever the page held. */
  onSnapshot(data: unknown): void
  /** One change; `kind` says what `data` is (e.g. "incident", "stats"). */
  onDelta(kind: string, data: unknown): void
  /** The server cannot resume: drop state; a new snapshot follows. */
  onReload?(reason: string): void
}

export type ConnState = 'idle' | 'connecting' | 'open' | 'waiting' | 'stopped'

/** The connection as the UI shows it. */
export interface ConnStatus {
  state: ConnState
  /** Failed attempts in a row (0 while healthy). */
  attempt: number
  /** Wall-clock ms of the last message received, or null before the first. */
  lastMessageAt: number | null
  /** Wall-clock ms at which the next attempt starts, while waiting. */
  retryAt: number | null
  /** The last problem, in words, or null. */
  error: string | null
  /**
   * Set while the server is restoring the situation from its event log (its API answers 503
   * "restoring"): not a fault, the screens come back when it is done. Null or absent otherwise.
   */
  restoring?: RestoreProgress | null
}

/** The subset of WebSocket the client uses (so tests can pass a fake). */
export interface SocketLike {
  readonly readyState: number
  onopen: ((ev: Event) => void) | null
  onmessage: ((ev: MessageEvent) => void) | null
  onclose: ((ev: CloseEvent) => void) | null
  onerror: ((ev: Event) => void) | null
  send(data: string): void
  close(code?: number, reason?: string): void
}

export interface RealtimeOptions {
  /** Fetches a websocket ticket; rejects when none can be had. */
  ticket: () => Promise<string>
  /** Opens the socket. */
  open: (protocols: string[]) => SocketLike
  onStatus?: (s: ConnStatus) => void
  /** Backoff bounds in ms. */
  minDelayMs?: number
  maxDelayMs?: number
  now?: () => number
  random?: () => number
  setTimer?: (fn: () => void, ms: number) => unknown
  clearTimer?: (t: unknown) => void
}

interface Channel {
  name: string
  handler: ChannelHandler
  /** Last seq seen on this channel; undefined until the first snapshot. */
  seq: string | undefined
}

const OPEN = 1

/**
 * A self-healing realtime connection with any number of channel subscriptions.
 * Not thread-safe in any sense that matters in a browser: use it from the main thread.
 */
export class Realtime {
  private readonly opts: Required<Omit<RealtimeOptions, 'onStatus'>> & Pick<RealtimeOptions, 'onStatus'>
  private readonly channels = new Map<string, Channel>()
  private socket: SocketLike | null = null
  private timer: unknown = null
  private running = false
  /** The server said it is restoring (error "restoring") on the socket now closing. */
  private restoringSeen = false
  /** Bumps on every connect attempt, so callbacks of an abandoned socket do nothing. */
  private generation = 0
  private status: ConnStatus = { state: 'idle', attempt: 0, lastMessageAt: null, retryAt: null, error: null }

  constructor(opts: RealtimeOptions) {
    this.opts = {
      minDelayMs: 1000,
      maxDelayMs: 30000,
      now: () => Date.now(),
      random: Math.random,
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
      ...opts,
    }
  }

  /** Subscribes to a channel (now if connected, else on connect). Returns an unsubscribe function. */
  subscribe(name: string, handler: ChannelHandler): () => void {
    const ch: Channel = { name, handler, seq: undefined }
    this.channels.set(name, ch)
    if (this.socket && this.socket.readyState === OPEN) this.sendSubscribe(ch)
    return () => {
      if (this.channels.get(name) !== ch) return
      this.channels.delete(name)
      if (this.socket && this.socket.readyState === OPEN) {
        this.socket.send(JSON.stringify({ op: 'unsubscribe', channel: name }))
      }
    }
  }

  /** Starts connecting; idempotent. */
  start(): void {
    if (this.running) return
    this.running = true
    void this.connect()
  }

  /** Closes the socket and stops reconnecting. */
  stop(): void {
    this.running = false
    this.generation++
    if (this.timer !== null) this.opts.clearTimer(this.timer)
    this.timer = null
    const s = this.socket
    this.socket = null
    if (s) s.close(1000, 'client stop')
    this.setStatus({ state: 'stopped', retryAt: null })
  }

  /** Skips the wait of a pending reconnect (e.g. when the browser comes back online). */
  retryNow(): void {
    if (!this.running || this.status.state !== 'waiting') return
    if (this.timer !== null) this.opts.clearTimer(this.timer)
    this.timer = null
    void this.connect()
  }

  /** The current status (a copy). */
  get current(): ConnStatus {
    return { ...this.status }
  }

  /** The backoff before attempt n (1-based): 1 s, 2 s, 4 s … 30 s, each scaled by 50–100 %. */
  delayFor(attempt: number): number {
    const { minDelayMs, maxDelayMs } = this.opts
    const base = Math.min(maxDelayMs, minDelayMs * 2 ** Math.max(0, attempt - 1))
    return Math.round(base * (0.5 + 0.5 * this.opts.random()))
  }

  private async connect(): Promise<void> {
    const gen = ++this.generation
    this.timer = null
    this.setStatus({ state: 'connecting', retryAt: null })
    let ticket: string
    try {
      ticket = await this.opts.ticket()
    } catch (err) {
      if (gen !== this.generation) return
      const progress = restoring(err)
      if (progress) {
        // Coming back, not broken: ask again at the server's pace, not the growing backoff.
        const after = err instanceof HttpError && err.retryAfterMs !== null ? err.retryAfterMs : RESTORING_RETRY_MS
        this.fail('服务端正在恢复态势数据', { delayMs: Math.min(after, this.opts.maxDelayMs), restoring: progress })
        return
      }
      this.fail(`无法获取连接凭证：${errText(err)}`)
      return
    }
    if (gen !== this.generation || !this.running) return
    let sock: SocketLike
    try {
      sock = this.opts.open([PROTOCOL, `ticket.${ticket}`])
    } catch (err) {
      this.fail(`无法建立连接：${errText(err)}`)
      return
    }
    this.socket = sock
    sock.onopen = () => {
      if (gen !== this.generation) return
      this.setStatus({ state: 'open', error: null, restoring: null })
      for (const ch of this.channels.values()) this.sendSubscribe(ch)
    }
    sock.onmessage = (ev) => {
      if (gen !== this.generation) return
      this.receive(ev.data)
    }
    sock.onerror = () => {
      // A close event always follows; the reconnect happens there.
    }
    sock.onclose = (ev) => {
      if (gen !== this.generation) return
      this.socket = null
      if (this.restoringSeen) {
        this.restoringSeen = false
        this.fail('服务端正在恢复态势数据', { delayMs: RESTORING_RETRY_MS, restoring: { done: null, total: null, percent: null } })
        return
      }
      this.fail(ev.code === 1000 ? '连接已关闭' : `连接中断（${ev.code}${ev.reason ? ' ' + ev.reason : ''}）`)
    }
  }

  private fail(reason: string, how: { delayMs?: number; restoring?: RestoreProgress } = {}): void {
    if (!this.running) return
    const attempt = this.status.attempt + 1
    const delay = how.delayMs ?? this.delayFor(attempt)
    this.setStatus({ state: 'waiting', attempt, error: reason, retryAt: this.opts.now() + delay, restoring: how.restoring ?? null })
    const gen = this.generation
    this.timer = this.opts.setTimer(() => {
      if (gen === this.generation && this.running) void this.connect()
    }, delay)
  }

  private sendSubscribe(ch: Channel): void {
    const msg: { op: string; channel: string; since?: string } = { op: 'subscribe', channel: ch.name }
    if (ch.seq !== undefined) msg.since = ch.seq
    this.socket?.send(JSON.stringify(msg))
  }

  private receive(raw: unknown): void {
    this.setStatus({ lastMessageAt: this.opts.now() })
    if (typeof raw !== 'string') return
    let parsed: unknown
    try {
      parsed = JSON.parse(raw)
    } catch {
      console.warn('realtime: message is not JSON')
      return
    }
    const msgs = Array.isArray(parsed) ? parsed : [parsed]
    for (const m of msgs) this.dispatch(m)
  }

  private dispatch(m: unknown): void {
    if (typeof m !== 'object' || m === null) return
    const msg = m as { type?: unknown; channel?: unknown; seq?: unknown; kind?: unknown; data?: unknown; reason?: unknown; code?: unknown; message?: unknown }
    if (msg.type === 'error') {
      console.warn('realtime: server error', msg.code, msg.message)
      this.setStatus({ error: `服务端错误：${typeof msg.message === 'string' ? msg.message : String(msg.code ?? '')}` })
      // The server could not serve the subscription (e.g. its store is down): start over on a
      // fresh connection after the usual backoff rather than hammering it on this one.
      if (msg.code === 'unavailable') this.socket?.close(4000, 'server unavailable')
      // The server is rebuilding its situation (a snapshot now would be partial): come back when
      // it is done; meanwhile the ticket says how far it has come.
      if (msg.code === 'restoring') {
        this.restoringSeen = true
        this.socket?.close(4000, 'server restoring')
      }
      return
    }
    const ch = typeof msg.channel === 'string' ? this.channels.get(msg.channel) : undefined
    if (!ch) return
    const seq = typeof msg.seq === 'string' ? msg.seq : typeof msg.seq === 'number' ? String(msg.seq) : undefined
    switch (msg.type) {
      case 'snapshot':
        if (seq !== undefined) ch.seq = seq
        // A healthy subscription resets the backoff.
        this.setStatus({ attempt: 0, error: null })
        ch.handler.onSnapshot(msg.data)
        break
      case 'delta':
        if (seq !== undefined) ch.seq = seq
        ch.handler.onDelta(typeof msg.kind === 'string' ? msg.kind : '', msg.data)
        break
      case 'reload':
        ch.seq = undefined
        ch.handler.onReload?.(typeof msg.reason === 'string' ? msg.reason : '')
        this.sendSubscribe(ch)
        break
      default:
        break
    }
  }

  private setStatus(patch: Partial<ConnStatus>): void {
    this.status = { ...this.status, ...patch }
    this.opts.onStatus?.({ ...this.status })
  }
}

function errText(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
