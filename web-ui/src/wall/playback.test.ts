import { afterEach, describe, expect, it, vi } from 'vitest'
import { startPlayback } from './playback'

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
})
