import { describe, expect, it } from 'vitest'
import { backoffMs, classify, MemoryStorage, Outbox, type OutboxItem, type SendResult } from './outbox'
import { sha256 } from './sha256'

function harness(answers: Array<SendResult | Error>) {
  let now = 1_000_000
  const sent: OutboxItem[] = []
  const ob = new Outbox({
    storage: new MemoryStorage(),
    now: () => now,
    random: () => 1,
    transport: async (item) => {
      sent.push(item)
      const a = answers.shift() ?? { status: 200 }
      if (a instanceof Error) throw a
      return a
    },
  })
  return { ob, sent, advance: (ms: number) => (now += ms) }
}

const cmd = (id: string, action: string, base = 3) => ({
  id,
  kind: 'command' as const,
  label: action,
  incidentId: 'INC-1',
  action,
  body: { base_version: base },
})

describe('classify', () => {
  it('retries only what may succeed later', () => {
    expect([200, 201, 202].map(classify)).toEqual(['done', 'done', 'done'])
    expect([0, 408, 429, 500, 502, 503].map(classify)).toEqual(Array(6).fill('retry'))
    expect([400, 403, 404, 409, 413, 415, 422].map(classify)).toEqual(Array(7).fill('refused'))
    expect(classify(401)).toBe('unauthorized')
  })
  it('backs off exponentially with a cap', () => {
    expect(backoffMs(1, () => 1)).toBe(2000)
    expect(backoffMs(3, () => 1)).toBe(8000)
    expect(backoffMs(30, () => 1)).toBe(300_000)
    expect(backoffMs(1, () => 0)).toBe(1000)
  })
})

describe('Outbox', () => {
  it('sends in the order of creation, each with its own client id', async () => {
    const { ob, sent } = harness([])
    await ob.add({ id: 'p1hash', kind: 'photo', label: 'photo', blob: new Blob(['x']) })
    await ob.add(cmd('k-handle', 'handle'))
    await ob.add({ id: 'r1', kind: 'report', label: 'report', body: { report_id: 'r1' } })
    const s = await ob.drain()
    expect(s.sent).toBe(3)
    expect(sent.map((i) => i.id)).toEqual(['p1hash', 'k-handle', 'r1'])
    expect(await ob.items()).toEqual([])
  })

  it('does not queue the same photo twice', async () => {
    const { ob } = harness([])
    await ob.add({ id: 'same', kind: 'photo', label: 'a', blob: new Blob(['x']) })
    await ob.add({ id: 'same', kind: 'photo', label: 'b', blob: new Blob(['x']) })
    expect((await ob.items()).length).toBe(1)
  })

  it('retries network errors and 5xx with the same idempotency key, and nothing overtakes', async () => {
    const { ob, sent, advance } = harness([new Error('offline'), { status: 503 }, { status: 200 }, { status: 200 }])
    await ob.add(cmd('k1', 'handle'))
    await ob.add(cmd('k2', 'other'))
    let s = await ob.drain()
    expect(s).toMatchObject({ sent: 0, waiting: 1 })
    expect(sent.map((i) => i.id)).toEqual(['k1'])
    // Not due yet: nothing is sent.
    s = await ob.drain()
    expect(sent.length).toBe(1)
    advance(2000)
    s = await ob.drain()
    expect(sent.map((i) => i.id)).toEqual(['k1', 'k1'])
    const [waiting] = await ob.items()
    expect(waiting).toMatchObject({ id: 'k1', attempts: 2, error: 'HTTP 503' })
    await ob.wake()
    s = await ob.drain()
    expect(s.sent).toBe(2)
    expect(sent.map((i) => i.id)).toEqual(['k1', 'k1', 'k1', 'k2'])
  })

  it('keeps a 409 for the worker instead of retrying it forever, and goes on', async () => {
    const { ob, sent } = harness([{ status: 409, error: 'stale' }, { status: 200 }])
    await ob.add(cmd('k1', 'accept'))
    await ob.add(cmd('k2', 'return'))
    const s = await ob.drain()
    expect(s).toMatchObject({ sent: 1, refused: 1 })
    const items = await ob.items()
    expect(items).toHaveLength(1)
    expect(items[0]).toMatchObject({ id: 'k1', state: 'failed', status: 409, error: 'stale' })
    await ob.drain()
    expect(sent).toHaveLength(2) // the refused one is not sent again
    await ob.remove('k1')
    expect(await ob.items()).toEqual([])
  })

  it('stops on 401 and keeps the items for the next login', async () => {
    const { ob, sent } = harness([{ status: 401 }])
    await ob.add(cmd('k1', 'accept'))
    await ob.add(cmd('k2', 'start'))
    const s = await ob.drain()
    expect(s.unauthorized).toBe(true)
    expect(sent).toHaveLength(1)
    expect((await ob.items()).map((i) => [i.id, i.state])).toEqual([
      ['k1', 'pending'],
      ['k2', 'pending'],
    ])
  })

  it('bases a chained command on the version the previous answer reported', async () => {
    const { ob, sent } = harness([{ status: 200, body: { incident: { version: 7 } } }, { status: 200 }])
    await ob.add(cmd('k1', 'accept', 5))
    await ob.add(cmd('k2', 'start', 6))
    await ob.drain()
    expect(sent[1]!.body!.base_version).toBe(7)
  })

  it('runs one drain at a time', async () => {
    const { ob, sent } = harness([])
    await ob.add(cmd('k1', 'accept'))
    await Promise.all([ob.drain(), ob.drain(), ob.drain()])
    expect(sent).toHaveLength(1)
  })
})

describe('sha256', () => {
  const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
  it('matches the FIPS test vectors', () => {
    expect(hex(sha256(new TextEncoder().encode('abc')))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(hex(sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    const long = new TextEncoder().encode('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')
    expect(hex(sha256(long))).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1')
  })
})
