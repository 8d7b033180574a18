// The phone's outbox: every action and photo the worker makes is written here first (IndexedDB
// in the browser, see idb.ts) and a sender drains it in order whenever the phone is online. That
// makes the app usable in a basement or a lift, and exactly-once on the server:
//   - a command carries its item's client id as the Idempotency-Key, so a resend after a lost
//     answer is the same command (the API answers the stored outcome, nothing applies twice);
//   - a photo's id is the sha256 of its bytes, which is also how the server names it, so a
//     re-upload is the same object;
//   - a grid report carries its client id as report_id, the intake's idempotency key.
// Answers are classified (classify): 2xx done; 409 stale/not allowed and other 4xx are shown
// to the worker and not retried (retrying cannot make them succeed); 401 stops the sender (the
// session expired, the items wait for the next login); 408/429/5xx and network errors are
// retried with exponential backoff, in order (a later item never overtakes an earlier one).

/** What the sender does with one item. */
export type ItemKind = 'photo' | 'command' | 'report'

export interface OutboxItem {
  /** Client id: the Idempotency-Key of a command, the content hash of a photo, the report_id of a report. */
  id: string
  /** Order of creation; the sender goes strictly by it. */
  seq: number
  kind: ItemKind
  createdAt: number
  /** What the worker sees in the pending list. */
  label: string
  /** The incident a command is about. */
  incidentId?: string
  /** The command's action (accept, start, handle …). */
  action?: string
  /** The JSON body of a command or report. */
  body?: Record<string, unknown>
  /** A photo's bytes (JPEG). */
  blob?: Blob
  attempts: number
  /** Not before this time (ms) — the backoff. */
  nextAt: number
  /** pending: to send; failed: refused for good, waits for the worker to dismiss it. */
  state: 'pending' | 'failed'
  /** The last problem, in words. */
  error?: string
  /** HTTP status of a refusal. */
  status?: number
}

/** Where the items live. idb.ts keeps them in IndexedDB; tests use MemoryStorage. */
export interface OutboxStorage {
  all(): Promise<OutboxItem[]>
  put(item: OutboxItem): Promise<void>
  delete(id: string): Promise<void>
}

/** An answer of the server to one item: status 0 means no answer (network error, timeout). */
export interface SendResult {
  status: number
  body?: unknown
  error?: string
}

/** Sends one item to the server. */
export type Transport = (item: OutboxItem) => Promise<SendResult>

export type Verdict = 'done' | 'retry' | 'refused' | 'unauthorized'

/** What an answer means for the item. */
export function classify(status: number): Verdict {
  if (status >= 200 && status < 300) return 'done'
  if (status === 401) return 'unauthorized'
  if (status === 0 || status === 408 || status === 425 || status === 429 || status >= 500) return 'retry'
  return 'refused'
}

/** Backoff before attempt n+1 after n failures: 2 s doubling to 5 min, scaled by 50–100 %. */
export function backoffMs(attempts: number, random: () => number = Math.random): number {
  const base = Math.min(5 * 60_000, 2000 * 2 ** Math.max(0, attempts - 1))
  return Math.round(base * (0.5 + 0.5 * random()))
}

/** A fresh client id (used as Idempotency-Key / report_id). */
export function clientId(): string {
  const c = globalThis.crypto
  if (c && typeof c.randomUUID === 'function') return c.randomUUID()
  const b = new Uint8Array(16)
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(b)
  else for (let i = 0; i < b.length; i++) b[i] = Math.floor(Math.random() * 256)
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
}

export interface OutboxOptions {
  storage: OutboxStorage
  transport: Transport
  now?: () => number
  random?: () => number
  /** Called whenever the items change (the UI's pending list). */
  onChange?: (items: OutboxItem[]) => void
  /** Called with each answer that finished an item (done or refused). */
  onResult?: (item: OutboxItem, verdict: Verdict, res: SendResult) => void
}

export type AddInput = Omit<OutboxItem, 'seq' | 'createdAt' | 'attempts' | 'nextAt' | 'state'>

export class Outbox {
  private readonly o: Required<Omit<OutboxOptions, 'onChange' | 'onResult'>> & Pick<OutboxOptions, 'onChange' | 'onResult'>
  private draining: Promise<DrainSummary> | null = null
  /** The newest incident version an answer of this session reported (for chained commands). */
  readonly versions = new Map<string, number>()

  constructor(opts: OutboxOptions) {
    this.o = { now: () => Date.now(), random: Math.random, ...opts }
  }

  /** The items in send order. */
  async items(): Promise<OutboxItem[]> {
    return (await this.o.storage.all()).sort((a, b) => a.seq - b.seq)
  }

  /** Queues an item. A photo already queued (same hash) is not queued twice. */
  async add(input: AddInput): Promise<OutboxItem> {
    const items = await this.items()
    const same = items.find((i) => i.id === input.id)
    if (same) return same
    const now = this.o.now()
    const seq = Math.max(now, (items.at(-1)?.seq ?? 0) + 1)
    const item: OutboxItem = { ...input, seq, createdAt: now, attempts: 0, nextAt: 0, state: 'pending' }
    await this.o.storage.put(item)
    await this.changed()
    return item
  }

  /** Removes an item (the worker dismisses a refused one). */
  async remove(id: string): Promise<void> {
    await this.o.storage.delete(id)
    await this.changed()
  }

  /** Makes every waiting item due now (the phone came back online, or the worker tapped retry). */
  async wake(): Promise<void> {
    for (const it of await this.items()) {
      if (it.state === 'pending' && it.nextAt > 0) await this.o.storage.put({ ...it, nextAt: 0 })
    }
  }

  /**
   * Sends the due items in order until one must wait (retry) or the session is gone. Concurrent
   * calls share one run, so an item is never in flight twice from this tab.
   */
  drain(): Promise<DrainSummary> {
    if (!this.draining) {
      this.draining = this.run().finally(() => {
        this.draining = null
      })
    }
    return this.draining
  }

  private async run(): Promise<DrainSummary> {
    const sum: DrainSummary = { sent: 0, refused: 0, waiting: 0, unauthorized: false, nextAt: null }
    for (const item of await this.items()) {
      if (item.state !== 'pending') continue
      if (item.nextAt > this.o.now()) {
        sum.waiting++
        sum.nextAt = item.nextAt
        break // in order: nothing overtakes the item that waits
      }
      const sending = this.withChainedVersion(item)
      let res: SendResult
      try {
        res = await this.o.transport(sending)
      } catch (err) {
        res = { status: 0, error: err instanceof Error ? err.message : String(err) }
      }
      const verdict = classify(res.status)
      if (verdict === 'done') {
        this.noteVersion(item, res.body)
        await this.o.storage.delete(item.id)
        sum.sent++
        this.o.onResult?.(item, verdict, res)
        continue
      }
      if (verdict === 'unauthorized') {
        sum.unauthorized = true
        break
      }
      if (verdict === 'refused') {
        await this.o.storage.put({ ...item, state: 'failed', status: res.status, error: res.error ?? `HTTP ${res.status}` })
        sum.refused++
        this.o.onResult?.(item, verdict, res)
        continue
      }
      const attempts = item.attempts + 1
      const nextAt = this.o.now() + backoffMs(attempts, this.o.random)
      await this.o.storage.put({ ...item, attempts, nextAt, error: res.error ?? (res.status ? `HTTP ${res.status}` : '网络不可用') })
      sum.waiting++
      sum.nextAt = nextAt
      break
    }
    await this.changed()
    return sum
  }

  /**
   * A command queued behind another command for the same incident was based on the version the
   * phone knew then; once the earlier one is applied, the incident is one or more versions on.
   * The answer of the earlier one says which version it is now, so the later one is based on it.
   * (A resend of the same command keeps its Idempotency-Key, so the server still sees one command.)
   */
  private withChainedVersion(item: OutboxItem): OutboxItem {
    if (item.kind !== 'command' || !item.incidentId || !item.body) return item
    const v = this.versions.get(item.incidentId)
    const base = item.body.base_version
    if (v === undefined || typeof base !== 'number' || v <= base) return item
    return { ...item, body: { ...item.body, base_version: v } }
  }

  private noteVersion(item: OutboxItem, body: unknown): void {
    if (item.kind !== 'command' || !item.incidentId) return
    const v = (body as { incident?: { version?: unknown } } | undefined)?.incident?.version
    if (typeof v === 'number') this.versions.set(item.incidentId, v)
  }

  private async changed(): Promise<void> {
    if (this.o.onChange) this.o.onChange(await this.items())
  }
}

export interface DrainSummary {
  sent: number
  refused: number
  /** Items left waiting for a retry. */
  waiting: number
  /** The sender stopped on a 401: log in again. */
  unauthorized: boolean
  /** When the waiting item is due. */
  nextAt: number | null
}

/** In-memory storage (tests, and the fallback where IndexedDB is unavailable). */
export class MemoryStorage implements OutboxStorage {
  private readonly m = new Map<string, OutboxItem>()
  async all(): Promise<OutboxItem[]> {
    return [...this.m.values()].map((i) => ({ ...i }))
  }
  async put(item: OutboxItem): Promise<void> {
    this.m.set(item.id, { ...item })
  }
  async delete(id: string): Promise<void> {
    this.m.delete(id)
  }
}
