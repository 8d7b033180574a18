import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { Plugin } from 'vite'

// Emits the phone app's service worker as /m/sw.js: build/mobile-sw.js with the list of files of
// the app shell (the entry, the /m page's chunk and everything it imports, their CSS and assets,
// the manifest and icons) and a version that changes whenever one of them does.

interface ChunkLike {
  type: 'chunk'
  fileName: string
  isEntry: boolean
  facadeModuleId: string | null
  imports: string[]
  dynamicImports: string[]
  viteMetadata?: { importedCss: Set<string>; importedAssets: Set<string> }
  moduleIds?: string[]
}

export function mobileServiceWorker(opts: { pageModule: RegExp; publicFiles: string[] }): Plugin {
  return {
    name: 'citybrain-mobile-sw',
    apply: 'build',
    generateBundle(_options, bundle) {
      const chunks = new Map<string, ChunkLike>()
      for (const [name, out] of Object.entries(bundle)) if (out.type === 'chunk') chunks.set(name, out as unknown as ChunkLike)
      const files = new Set<string>()
      const visit = (name: string): void => {
        if (files.has(name)) return
        const c = chunks.get(name)
        if (!c) return
        files.add(name)
        c.viteMetadata?.importedCss.forEach((f) => files.add(f))
        c.viteMetadata?.importedAssets.forEach((f) => files.add(f))
        c.imports.forEach(visit)
      }
      for (const [name, c] of chunks) {
        if (c.isEntry || (c.facadeModuleId && opts.pageModule.test(c.facadeModuleId))) visit(name)
      }
      // Assets referenced with ?url (MapLibre's worker) are files of the bundle that no chunk
      // lists as imported: take the ones whose name the shell's code mentions.
      for (const [name, out] of Object.entries(bundle)) {
        if (out.type !== 'asset' || files.has(name)) continue
        const base = name.split('/').pop() ?? name
        for (const f of files) {
          const c = chunks.get(f) as unknown as { code?: string } | undefined
          if (c?.code?.includes(base)) files.add(name)
        }
      }
      const precache = ['/m/', ...[...files].sort().map((f) => `/${f}`), ...opts.publicFiles]
      const version = createHash('sha256').update(precache.join('\n')).digest('hex').slice(0, 12)
      const template = readFileSync(resolve(import.meta.dirname, 'mobile-sw.js'), 'utf8')
      const source = template.replace("'__VERSION__'", JSON.stringify(version)).replace('__PRECACHE__', JSON.stringify(precache, null, 2))
      this.emitFile({ type: 'asset', fileName: 'm/sw.js', source })
    },
  }
}
