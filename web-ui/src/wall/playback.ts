// 回放: the client of GET /ws/playback (docs/realtime-protocol.md). It authenticates like /ws (a
// ticket in the subprotocol), feeds the snapshot and incident deltas into a wall store of its own,
// and exposes the playback clock, speed, pause and end. A playback whose connection drops (closed
// without the server's end or error: a network blip, a server restart) picks up where its clock
// was: a new connection from that moment, at the same speed, paused if it was, its snapshot merged
// into what is shown; after RESUME_TRIES drops in a row without a snapshot it ends in an error.
import { shallowRef, type ShallowRef } from 'vue'
import { fetchWsTicket, wsURL } from '../lib/api'
import { parseTime } from '../lib/format'
import { PROTOCOL } from '../lib/realtime'
import { createWallStore, type WallStore } from './store'

export const SPEEDS = [1, 5, 10, 30, 60] as const
export type Speed = (typeof SPEEDS)[number]

export type PlaybackState = 'connecting' | 'playing' | 'paused' | 'ended' | 'error'

/** Drops in a row (without a snapshot between) a playback resumes from, and the first wait, ms (doubling). */
export const RESUME_TRIES = 4
export const RESUME_BACKOFF_MS = 1000

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
  let resuming = false // the connection is a resumed one: its snapshot is merged, not a new start
  let failures = 0 // drops in a row without a snapshot
  let paused = false // as the viewer left it, for a resumed connection

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
        const d = (msg.data ?? {}) as { at?: unknown; incidents?: unknown }
        if (resuming) {
          // The incidents open at the clock: newer states of what is shown, plus what opened
          // during the gap; what closed before it stays as shown (a period is shown as it was).
          if (Array.isArray(d.incidents)) for (const inc of d.incidents) store.channel.onDelta('incident', inc)
          if (paused) send({ op: 'pause' })
        } else {
          store.channel.onSnapshot(msg.data)
          tick(d.at)
        }
        failures = 0
        if (state.value === 'connecting') state.value = paused ? 'paused' : 'playing'
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
          paused = msg.paused
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

  const connect = (from: Date) => {
    const q = new URLSearchParams({ from: from.toISOString(), to: range.to.toISOString(), speed: String(speed.value) })
    fetchWsTicket()
      .then((ticket) => {
        if (stopped) return
        const s = open(wsURL(`/ws/playback?${q.toString()}`), [PROTOCOL, `ticket.${ticket}`])
        sock = s
        s.onmessage = (e) => onMessage(e.data)
        s.onerror = () => {
          if (state.value === 'connecting' && !resuming) {
            error.value = 'websocket'
            state.value = 'error'
          }
        }
        s.onclose = (e) => {
          if (stopped || sock !== s || state.value === 'ended' || state.value === 'error') return
          dropped(e.reason || `closed (${e.code})`)
        }
      })
      .catch((err: unknown) => {
        if (resuming) dropped(err instanceof Error ? err.message : String(err))
        else {
          error.value = err instanceof Error ? err.message : String(err)
          state.value = 'error'
        }
      })
  }

  /** The connection ended without the server's end or error: pick up at the clock, or give up. */
  const dropped = (why: string) => {
    if (stopped) return
    if (clock.value !== null && clock.value >= range.to.getTime()) {
      state.value = 'ended' // dropped at the very end: nothing is left to play
      return
    }
    failures++
    if (failures > RESUME_TRIES || clock.value === null) {
      error.value = why
      state.value = 'error'
      return
    }
    resuming = true
    state.value = 'connecting'
    const at = new Date(Math.max(clock.value, range.from.getTime())) // before `to`: checked above
    setTimeout(() => {
      if (!stopped) connect(at)
    }, RESUME_BACKOFF_MS * 2 ** (failures - 1))
  }

  connect(range.from)

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
      paused = true
      state.value = 'paused'
    },
    resume() {
      if (state.value !== 'paused') return
      send({ op: 'resume' })
      paused = false
      state.value = 'playing'
    },
    stop() {
      stopped = true
      sock?.close(1000, 'exit')
      sock = null
    },
  }
}
