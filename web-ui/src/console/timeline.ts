// A storm's reports as the console's detail shows them: the first and the latest (the timeline is
// folded as on every screen: lib/timeline.ts).

/** How many reports the detail shows before "show all": a storm of calls about one burst main fuses
 * hundreds, and a strip of hundreds of cards (with photos) is neither readable nor fast. */
export const reportsShown = 20

/** The first report (what the incident was opened for) and the latest ones, at most `n` in all. */
export function firstAndLatest<T>(reports: readonly T[], n = reportsShown): T[] {
  if (reports.length <= n) return [...reports]
  return [...reports.slice(0, 1), ...reports.slice(reports.length - (n - 1))]
}
