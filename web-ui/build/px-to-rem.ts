import type { Plugin } from 'postcss'

/**
 * Options for {@link pxToRem}.
 */
export interface PxToRemOptions {
  /** How many design pixels one rem stands for; the page sets the root font-size to match. */
  designPxPerRem: number
  /** Which source files to convert (by path); others are left alone. */
  include: RegExp
}

/**
 * A PostCSS plugin that rewrites `Npx` lengths in stylesheets to rem, so the whole UI is written in
 * design pixels (the 1920×1080 canvas) and scales with the root font-size that `src/lib/scale.ts`
 * sets from the window size. Hairlines (`1px`) stay in CSS pixels so they never blur or vanish;
 * write `PX` (upper case) to keep any other value unscaled.
 *
 * Why rem and not `transform: scale()`: a transformed canvas is rendered at 1920×1080 and then
 * stretched, so text and the WebGL map go soft on a 4K wall and MapLibre's pointer maths are off.
 * With rem, everything is laid out and rasterised at the wall's real resolution. 100 design px per
 * rem keeps the root font-size far above the 12 px floor that Chinese-locale Chrome enforces.
 */
export function pxToRem(opts: PxToRemOptions): Plugin {
  const re = /(-?\d*\.?\d+)px\b/g
  return {
    postcssPlugin: 'citybrain-px-to-rem',
    Declaration(decl) {
      if (!decl.value.includes('px')) return
      const file = decl.source?.input.file ?? decl.root().source?.input.file ?? ''
      if (!opts.include.test(file.replace(/\\/g, '/'))) return
      if (decl.prop.startsWith('--keep-')) return
      decl.value = decl.value.replace(re, (m, n: string) => {
        const v = Number(n)
        if (!Number.isFinite(v) || Math.abs(v) <= 1) return m
        return `${+(v / opts.designPxPerRem).toFixed(5)}rem`
      })
    },
  }
}
