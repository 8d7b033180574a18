// Reloads an unattended screen when a new build of the front end is deployed: the wall runs for
// days, and without this it would keep the JavaScript it loaded on the first day.

/** The entry script of a built index.html ("/assets/index-<hash>.js"), or null. */
export function entryScript(html: string): string | null {
  const m = /<script[^>]+type="module"[^>]+src="([^"]+)"/.exec(html) ?? /<script[^>]+src="([^"]+)"[^>]+type="module"/.exec(html)
  return m?.[1] ?? null
}

/**
 * Checks every intervalMs whether the server's index.html names a different entry script than the
 * one running, and if so calls reload (default: location.reload). Does nothing in development,
 * where Vite serves /src/main.ts. Returns a function that stops checking.
 */
export function watchForNewBuild(intervalMs = 10 * 60 * 1000, reload: () => void = () => location.reload()): () => void {
  const running = entryScript(document.documentElement.outerHTML)
  if (!running || !running.startsWith('/assets/')) return () => {}
  const check = async () => {
    try {
      const res = await fetch(location.pathname, { cache: 'no-store', headers: { Accept: 'text/html' } })
      if (!res.ok) return
      const next = entryScript(await res.text())
      if (next && next !== running) reload()
    } catch {
      // server away: the realtime client shows that; try again next time
    }
  }
  const timer = setInterval(() => void check(), intervalMs)
  return () => clearInterval(timer)
}
