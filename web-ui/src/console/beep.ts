// A short two-tone alert for new severity Ⅰ/Ⅱ incidents, synthesised with WebAudio (no audio file).
// Browsers allow sound only after a user gesture; the login click (or any key) unlocks it.

let ctx: AudioContext | null = null
let lastAt = 0

function audio(): AudioContext | null {
  if (ctx) return ctx
  const C = (globalThis as { AudioContext?: typeof AudioContext }).AudioContext
  if (!C) return null
  try {
    ctx = new C()
  } catch {
    ctx = null
  }
  return ctx
}

/** Creates/resumes the audio context inside a user gesture so later beeps may sound. */
export function unlockAudio(): void {
  const a = audio()
  if (a && a.state === 'suspended') void a.resume().catch(() => undefined)
}

/** Plays the alert; at most one every 1.5 s so a burst of arrivals is one sound, not a din. */
export function beep(level: 1 | 2 = 2): void {
  const a = audio()
  if (!a || a.state !== 'running') return
  const now = a.currentTime
  if (performance.now() - lastAt < 1500) return
  lastAt = performance.now()
  const tones = level === 1 ? [988, 740, 988] : [880, 660]
  tones.forEach((hz, i) => {
    const osc = a.createOscillator()
    const gain = a.createGain()
    osc.type = 'sine'
    osc.frequency.value = hz
    const t0 = now + i * 0.16
    gain.gain.setValueAtTime(0.0001, t0)
    gain.gain.exponentialRampToValueAtTime(0.18, t0 + 0.02)
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.14)
    osc.connect(gain).connect(a.destination)
    osc.start(t0)
    osc.stop(t0 + 0.15)
  })
}
