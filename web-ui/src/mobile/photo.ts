// Photos from the camera: downscaled on the phone to at most 1600 px on the long side and
// re-encoded as JPEG (a 12-megapixel photo becomes a few hundred kB, which a weak mobile link can
// carry), then named by their sha256 — the id the server will give them.

import { sha256Hex } from './sha256'

export const MAX_SIDE = 1600

/** The size to draw a w×h image at so that its long side is at most max. */
export function fitWithin(w: number, h: number, max = MAX_SIDE): { width: number; height: number } {
  const scale = Math.min(1, max / Math.max(w, h, 1))
  return { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) }
}

export interface Photo {
  /** The server's id: "<sha256>.jpg". */
  id: string
  blob: Blob
  /** An object URL for the preview (revoke when done). */
  preview: string
}

/** Downscales and re-encodes a picked file. */
export async function preparePhoto(file: Blob): Promise<Photo> {
  const bmp = await createImageBitmap(file)
  const { width, height } = fitWithin(bmp.width, bmp.height)
  const canvas = document.createElement('canvas')
  canvas.width = width
  canvas.height = height
  const ctx = canvas.getContext('2d')
  if (!ctx) throw new Error('canvas unavailable')
  ctx.drawImage(bmp, 0, 0, width, height)
  bmp.close()
  const blob = await new Promise<Blob>((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('JPEG encoding failed'))), 'image/jpeg', 0.82),
  )
  const id = `${await sha256Hex(await blob.arrayBuffer())}.jpg`
  return { id, blob, preview: URL.createObjectURL(blob) }
}

/** The URL the API serves a photo id at (what a command's photos carry). */
export function mediaURL(id: string): string {
  return `/api/v1/media/${id}`
}
