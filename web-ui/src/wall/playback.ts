// 回放: the client of GET /ws/playback (docs/realtime-protocol.md). It authenticates like /ws (a
// ticket in the subprotocol), feeds the snapshot and incident deltas into a wall store of its own,
// and exposes the playback clock, speed, pause and end. No resume: a dropped playback ends.
import { shallowRef, type ShallowRef } from 'vue'
import { fetchWsTicket, wsURL } from '../lib/api'
import { parseTime } from '../lib/format'
import { PROTOCOL } from '../lib/realtime'
import { createWallStore, type WallStore } from './store'

export const SPEEDS = [1, 5, 10, 30, 60] as const
export type Speed = (typeof SPEEDS)[number]

export type PlaybackState = 'connecting' | 'playing' | 'paused' | 'ended' | 'error'

export interface PlaybackRange {
  from: Date
  to: Date
  speed: Speed
}

export interface Playback {
  readonly store: WallStore
  readonly state: ShallowRef<PlaybackState>
  /** The playback clock (ms), null before the snapshot. */
  readonly clock: ShallowRef<number | null>
  readonly speed: ShallowRef<Speed>
  readonly error: ShallowRef<string | null>
  readonly range: PlaybackRange
  setSpeed(s: Speed): void
  pause(): void
  resume(): void
  stop(): void
}

interface PlaybackMessage {
  type?: string
  speed?: unknown
  paused?: unknown
  kind?: string
  at?: unknown
  data?: unknown
  message?: string
  error?: string
}

/** Opens a playback; the socket factory is replaceable for tests. */
export function startPlayback(
  range: PlaybackRange,
  open: (url: string, protocols: string[]) => WebSocket = (u, p) => new WebSocket(u, p),
): Playback {
  const store = createWallStore({ closedKeepMs: Infinity }) // a period is shown as it was
  const state = shallowRef<PlaybackState>('connecting')
  const clock = shallowRef<number | null>(null)
  const speed = shallowRef<Speed>(range.speed)
  const error = shallowRef<string | null>(null)
  let sock: WebSocket | null = null
  let stopped = false

  const send = (op: Record<string, unknown>) => {
    if (sock?.readyState === WebSocket.OPEN) sock.send(JSON.stringify(op))
  }
  const tick = (at: unknown) => {
    const t = parseTime(at)
    if (t !== null) clock.value = t
  }

  const onMessage = (raw: unknown) => {
    let msg: PlaybackMessage
    try {
      msg = JSON.parse(String(raw)) as PlaybackMessage
    } catch {
      return
    }
    switch (msg.type) {
      case 'snapshot': {
        const d = (msg.data ?? {}) as { at?: unknown }
        store.channel.onSnapshot(msg.data)
        tick(d.at)
        if (state.value === 'connecting') state.value = 'playing'
        break
      }
      case 'delta':
        if (msg.kind === 'incident') store.channel.onDelta('incident', msg.data)
        tick(msg.at)
        break
      case 'clock':
        tick(msg.at)
        // The server's word on speed and pause wins (another op may have been refused).
        if (SPEEDS.includes(msg.speed as Speed)) speed.value = msg.speed as Speed
        if (typeof msg.paused === 'boolean' && (state.value === 'playing' || state.value === 'paused')) {
          state.value = msg.paused ? 'paused' : 'playing'
        }
        break
      case 'end':
        state.value = 'ended'
        tick(range.to.toISOString())
        break
      case 'error':
        error.value = msg.message ?? msg.error ?? 'error'
        state.value = 'error'
        break
    }
  }

  const q = new URLSearchParams({ from: range.from.toISOString(), to: range.to.toISOString(), speed: String(range.speed) })
  fetchWsTicket()
    .then((ticket) => {
      if (stopped) return
      sock = open(wsURL(`/ws/playback?${q.toString()}`), [PROTOCOL, `ticket.${ticket}`])
      sock.onmessage = (e) => onMessage(e.data)
      sock.onerror = () => {
        if (state.value === 'connecting') {
          error.value = 'websocket'
          state.value = 'error'
        }
      }
      sock.onclose = (e) => {
        if (stopped || state.value === 'ended' || state.value === 'error') return
        error.value = e.reason || `closed (${e.code})`
        state.value = 'error'
      }
    })
    .catch((err: unknown) => {
      error.value = err instanceof Error ? err.message : String(err)
      state.value = 'error'
    })

  return {
    store,
    state,
    clock,
    speed,
    error,
    range,
    setSpeed(s) {
      speed.value = s
      send({ op: 'speed', speed: s })
    },
    pause() {
      if (state.value !== 'playing') return
      send({ op: 'pause' })
      state.value = 'paused'
    },
    resume() {
      if (state.value !== 'paused') return
      send({ op: 'resume' })
      state.value = 'playing'
    },
    stop() {
      stopped = true
      sock?.close(1000, 'exit')
      sock = null
    },
  }
}
