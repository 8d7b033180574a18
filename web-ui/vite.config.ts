import { writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { defineConfig, type Plugin } from 'vite'
import vue from '@vitejs/plugin-vue'
import { pxToRem } from './build/px-to-rem.ts'
import { mobileServiceWorker } from './build/mobile-sw.ts'

// The Go server embeds/serves ../services/webui/dist. The folder itself is kept in git through its
// README.md, which an emptied outDir would lose, so it is written back after every build.
const outDir = resolve(import.meta.dirname, '../services/webui/dist')
const distReadme = 'Built by `make web` (Vite output from web-ui/). Not committed.\n'

function keepDistReadme(): Plugin {
  return {
    name: 'citybrain-keep-dist-readme',
    apply: 'build',
    closeBundle() {
      writeFileSync(resolve(outDir, 'README.md'), distReadme)
    },
  }
}

// During development the API and the websocket come from a running citybrain (make run).
const backend = process.env.CITYBRAIN_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  base: '/',
  plugins: [
    vue(),
    keepDistReadme(),
    // The phone app's offline shell (/m/sw.js); its manifest and icons are in public/m/.
    mobileServiceWorker({
      pageModule: /\/src\/mobile\/MobileApp\.vue$/,
      publicFiles: ['/m/manifest.webmanifest', '/m/icon.svg', '/m/icon-192.png', '/m/icon-512.png'],
    }),
  ],
  // Only the wall is drawn on the scaled design canvas; the console and the mobile app use plain CSS.
  css: {
    postcss: { plugins: [pxToRem({ designPxPerRem: 100, include: /\/src\/wall\// })] },
  },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
    rolldownOptions: {
      output: {
        // MapLibre's worker ships as .mjs; serve it as .js so any static server sends a JavaScript
        // MIME type (module workers refuse anything else).
        assetFileNames: (asset) =>
          asset.names.some((n) => n.endsWith('.mjs')) ? 'assets/[name]-[hash].js' : 'assets/[name]-[hash][extname]',
      },
    },
  },
  server: {
    host: '127.0.0.1',
    proxy: {
      '/api': { target: backend, changeOrigin: false },
      '/ws': { target: backend, ws: true, changeOrigin: false },
      '/livez': { target: backend },
      '/readyz': { target: backend },
    },
  },
})
