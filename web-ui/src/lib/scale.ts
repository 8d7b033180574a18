// Scales the UI from its 1920×1080 design canvas to the real screen.
//
// Stylesheets are written in design pixels and compiled to rem (build/px-to-rem.ts, 100 design px
// per rem); this sets the root font-size so that the design canvas fits the window: 1920×1080 → 1,
// 3840×2160 → 2, a 5760×1080 video wall → 1 (the extra width goes to the flexible map column).

import { readonly, ref } from 'vue'

export const DESIGN_WIDTH = 1920
export const DESIGN_HEIGHT = 1080
const PX_PER_REM = 100

const scaleRef = ref(1)

/** The current design-to-screen scale factor (reactive, read-only). */
export const uiScale = readonly(scaleRef)

function apply(): void {
  const w = window.innerWidth || DESIGN_WIDTH
  const h = window.innerHeight || DESIGN_HEIGHT
  const s = Math.max(0.25, Math.min(w / DESIGN_WIDTH, h / DESIGN_HEIGHT))
  scaleRef.value = s
  document.documentElement.style.fontSize = `${PX_PER_REM * s}px`
}

/** Turns scaling on for the document; returns a function that turns it off. */
export function enableDesignScale(): () => void {
  apply()
  window.addEventListener('resize', apply)
  return () => {
    window.removeEventListener('resize', apply)
    document.documentElement.style.fontSize = ''
  }
}
