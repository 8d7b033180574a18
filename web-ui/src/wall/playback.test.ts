import { afterEach, describe, expect, it, vi } from 'vitest'
import { RESUME_BACKOFF_MS, RESUME_TRIES, startPlayback } from './playback'

/** A stand-in for the browser WebSocket that records what the client sends. */
class FakeSocket {
  static OPEN = 1
  readyState = 1
  sent: string[] = []
  onmessage: ((e: { data: string }) => void) | null = null
  onerror: (() => void) | null = null
  onclose: ((e: { code: number; reason: string }) => void) | null = null
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  send(s: string) {
    this.sent.push(s)
  }
  close() {
    this.readyState = 3
  }
  emit(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) })
  }
}

describe('playback client', () => {
  afterEach(() => vi.unstubAllGlobals())

  it('opens /ws/playback with the ticket, feeds its own store, follows the clock, sends ops', async () => {
    vi.stubGlobal('WebSocket', FakeSocket)
    vi.stubGlobal('location', { protocol: 'http:', host: 'wall.test' })
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify({ ticket: 'T1' }), { status: 200 }))
    let sock: FakeSocket | null = null
    const from = new Date('2026-11-22T03:00:00Z')
    const to = new Date('2026-11-22T03:15:00Z')
    const pb = startPlayback({ from, to, speed: 60 }, (url, protocols) => {
      sock = new FakeSocket(url, protocols)
      return sock as unknown as WebSocket
    })
    await vi.waitFor(() => expect(sock).not.toBeNull())
    const s = sock as unknown as FakeSocket
    expect(s.url).toContain('/ws/playback?from=2026-11-22T03%3A00%3A00.000Z')
    expect(s.url).toContain('speed=60')
    expect(s.protocols).toEqual(['citybrain.v1', 'ticket.T1'])
    expect(pb.state.value).toBe('connecting')

    s.emit({ type: 'snapshot', channel: 'playback', data: { incidents: [{ id: 'A', version: 1 }], at: from.toISOString() } })
    expect(pb.state.value).toBe('playing')
    expect(pb.store.incidents.size).toBe(1)
    expect(pb.clock.value).toBe(from.getTime())
    s.emit({ type: 'delta', channel: 'playback', kind: 'incident', at: '2026-11-22T03:01:00Z', data: { id: 'B', version: 1 } })
    expect(pb.store.incidents.has('B')).toBe(true)
    expect(pb.clock.value).toBe(Date.parse('2026-11-22T03:01:00Z'))

    pb.pause()
    expect(JSON.parse(s.sent.at(-1) ?? '{}')).toEqual({ op: 'pause' })
    expect(pb.state.value).toBe('paused')
    s.emit({ type: 'clock', channel: 'playback', at: '2026-11-22T03:01:00Z', speed: 60, paused: false })
    expect(pb.state.value).toBe('playing')
    pb.setSpeed(10)
    expect(JSON.parse(s.sent.at(-1) ?? '{}')).toEqual({ op: 'speed', speed: 10 })
    s.emit({ type: 'end', channel: 'playback' })
    expect(pb.state.value).toBe('ended')
    s.onclose?.({ code: 1000, reason: '' })
    expect(pb.state.value).toBe('ended')
    pb.stop()
  })

  it('picks up at its clock when the connection drops, merging what it shows; gives up after a few drops in a row', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout'] })
    vi.stubGlobal('WebSocket', FakeSocket)
    vi.stubGlobal('location', { protocol: 'http:', host: 'wall.test' })
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify({ ticket: 'T' }), { status: 200 }))
    const socks: FakeSocket[] = []
    const from = new Date('2026-11-22T03:00:00Z')
    const to = new Date('2026-11-22T04:00:00Z')
    const pb = startPlayback({ from, to, speed: 30 }, (url, protocols) => {
      const s = new FakeSocket(url, protocols)
      socks.push(s)
      return s as unknown as WebSocket
    })
    await vi.waitFor(() => expect(socks.length).toBe(1))
    socks[0]!.emit({ type: 'snapshot', channel: 'playback', data: { incidents: [{ id: 'A', version: 1 }], at: from.toISOString() } })
    socks[0]!.emit({ type: 'delta', channel: 'playback', kind: 'incident', at: '2026-11-22T03:20:00Z', data: { id: 'B', version: 2, state: 'closed' } })
    pb.setSpeed(5)
    pb.pause()
    socks[0]!.onclose?.({ code: 1006, reason: '' }) // dropped: no end, no error
    expect(pb.state.value).toBe('connecting')
    expect(pb.error.value).toBeNull()
    await vi.advanceTimersByTimeAsync(RESUME_BACKOFF_MS)
    await vi.waitFor(() => expect(socks.length).toBe(2))
    const again = socks[1]!
    expect(again.url).toContain('from=2026-11-22T03%3A20%3A00.000Z') // the clock, not the period's start
    expect(again.url).toContain('to=2026-11-22T04%3A00%3A00.000Z')
    expect(again.url).toContain('speed=5')
    again.emit({ type: 'snapshot', channel: 'playback', data: { incidents: [{ id: 'A', version: 3 }, { id: 'C', version: 1 }], at: '2026-11-22T03:20:00Z' } })
    expect(pb.state.value).toBe('paused')
    expect(JSON.parse(again.sent.at(-1) ?? '{}')).toEqual({ op: 'pause' }) // paused as the viewer left it
    expect([...pb.store.incidents.keys()].sort()).toEqual(['A', 'B', 'C']) // B (closed before the gap) still shown
    expect(pb.store.incidents.get('A')?.version).toBe(3)
    expect(pb.range.from).toEqual(from)

    // Drops in a row without a snapshot: resumed RESUME_TRIES times, then an error.
    for (let i = 0; i < RESUME_TRIES; i++) {
      socks.at(-1)!.onclose?.({ code: 1006, reason: '' })
      expect(pb.state.value).toBe('connecting')
      await vi.advanceTimersByTimeAsync(RESUME_BACKOFF_MS * 2 ** i)
      await vi.waitFor(() => expect(socks.length).toBe(3 + i))
    }
    socks.at(-1)!.onclose?.({ code: 1006, reason: 'gone' })
    expect(pb.state.value).toBe('error')
    expect(pb.error.value).toBe('gone')
    pb.stop()
    vi.useRealTimers()

    // Dropped with the clock at the period's end: nothing is left to play.
    const socks2: FakeSocket[] = []
    const pb2 = startPlayback({ from, to, speed: 30 }, (url, protocols) => {
      const s = new FakeSocket(url, protocols)
      socks2.push(s)
      return s as unknown as WebSocket
    })
    await vi.waitFor(() => expect(socks2.length).toBe(1))
    socks2[0]!.emit({ type: 'snapshot', channel: 'playback', data: { incidents: [], at: from.toISOString() } })
    socks2[0]!.emit({ type: 'clock', channel: 'playback', at: to.toISOString(), speed: 30, paused: false })
    socks2[0]!.onclose?.({ code: 1006, reason: '' })
    expect(pb2.state.value).toBe('ended')
    pb2.stop()
  })

  it('does not resume a playback the server ended or refused', async () => {
    vi.stubGlobal('WebSocket', FakeSocket)
    vi.stubGlobal('location', { protocol: 'http:', host: 'wall.test' })
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify({ ticket: 'T' }), { status: 200 }))
    const socks: FakeSocket[] = []
    const pb = startPlayback({ from: new Date('2026-11-22T03:00:00Z'), to: new Date('2026-11-22T04:00:00Z'), speed: 30 }, (url, protocols) => {
      const s = new FakeSocket(url, protocols)
      socks.push(s)
      return s as unknown as WebSocket
    })
    await vi.waitFor(() => expect(socks.length).toBe(1))
    socks[0]!.emit({ type: 'snapshot', channel: 'playback', data: { incidents: [], at: '2026-11-22T03:00:00Z' } })
    socks[0]!.emit({ type: 'error', channel: 'playback', code: 'unavailable', message: 'kafka down' })
    socks[0]!.onclose?.({ code: 1006, reason: '' })
    expect(pb.state.value).toBe('error')
    expect(pb.error.value).toBe('kafka down')
    await new Promise((r) => setTimeout(r, 20))
    expect(socks.length).toBe(1)
    pb.stop()
  })
})
