// Service worker of the phone app (/m), scope /m/. Written by hand; the build (build/mobile-sw.ts)
// fills in the version and the app shell's files and emits it as /m/sw.js.
//
// What it caches, and what never:
//   - the app shell (index.html as /m/, the JS/CSS chunks the phone app loads, the manifest and
//     icons) at install, so the app starts with no network;
//   - other /assets/* files (content-hashed, immutable) cache-first as they are fetched;
//   - the city's GIS layers (/api/v1/gis/layers/*: static geometry) network-first with the cached
//     copy as the offline fallback, so the task map still draws grids and roads;
//   - NO other API answer: tasks, commands, uploads, photos, tickets and the websocket always go to
//     the network (a cached task list would show a stale truth; the outbox handles offline writes).
/* eslint-disable */
const VERSION = '__VERSION__'
const PRECACHE = __PRECACHE__
const SHELL = '/m/'
const CACHE = `citybrain-m-${VERSION}`
const GIS = 'citybrain-m-gis'

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(PRECACHE))
      .then(() => self.skipWaiting()),
  )
})

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE && k !== GIS).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  )
})

self.addEventListener('fetch', (event) => {
  const req = event.request
  if (req.method !== 'GET') return
  const url = new URL(req.url)
  if (url.origin !== self.location.origin) return
  const path = url.pathname
  if (path.startsWith('/api/v1/gis/layers/')) {
    event.respondWith(networkFirst(req, GIS))
    return
  }
  if (path.startsWith('/api/') || path === '/ws' || path === '/livez' || path === '/readyz' || path === '/metrics') return
  if (req.mode === 'navigate') {
    if (path === '/m' || path.startsWith('/m/')) event.respondWith(shell(req))
    return
  }
  if (path.startsWith('/assets/') || path.startsWith('/m/') || path === '/favicon.svg') {
    event.respondWith(cacheFirst(req))
  }
})

/** Pages of the app: the network's index.html when there is one (and keep it), else the cached shell. */
async function shell(req) {
  const cache = await caches.open(CACHE)
  try {
    const res = await fetch(req)
    if (res.ok) await cache.put(SHELL, res.clone())
    return res
  } catch {
    return (await cache.match(SHELL)) || Response.error()
  }
}

async function cacheFirst(req) {
  const cache = await caches.open(CACHE)
  const hit = await cache.match(req)
  if (hit) return hit
  const res = await fetch(req)
  if (res.ok && res.type === 'basic') await cache.put(req, res.clone())
  return res
}

async function networkFirst(req, name) {
  const cache = await caches.open(name)
  try {
    const res = await fetch(req)
    if (res.ok) await cache.put(req, res.clone())
    return res
  } catch {
    return (await cache.match(req)) || Response.error()
  }
}

// A tap on a new-task notification opens (or focuses) the app on that task.
self.addEventListener('notificationclick', (event) => {
  event.notification.close()
  const target = (event.notification.data && event.notification.data.url) || SHELL
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((list) => {
      for (const c of list) {
        if (new URL(c.url).pathname.startsWith('/m') && 'focus' in c) {
          c.navigate(target)
          return c.focus()
        }
      }
      return self.clients.openWindow(target)
    }),
  )
})
