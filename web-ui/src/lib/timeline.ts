// An incident's audit trail as the screens list it. Every attempt is recorded, refused ones too; a
// client that retries a refused command (a script, a double click) would bury the real steps, so
// consecutive identical refusals are shown once with a count. So are runs of reports fused into
// the incident: a storm of calls about one burst main adds hundreds, and the console lists the
// reports themselves apart, the wall's card and command panel show only the last few steps.

export interface TimelineLike {
  action?: string
  repeats?: number
  outcome?: string
  refusal?: string
  reason?: string
  actor?: { id?: string; role?: string } | null
}

/** Folds runs of refused entries with the same action, actor, refusal and reason, and runs of
 * reports added (`add_report`), into their first entry; adds `repeats`. Entries the server folded
 * already (`?timeline=folded`: a run of reports as one entry with `repeats`) count as many. */
export function foldRepeats<T extends TimelineLike>(entries: readonly T[]): (T & { repeats?: number })[] {
  const out: (T & { repeats?: number })[] = []
  for (const e of entries) {
    const prev = out[out.length - 1]
    if (prev && ((e.outcome === 'refused' && prev.outcome === 'refused' && sameAttempt(prev, e)) || (addedReport(e) && addedReport(prev)))) {
      prev.repeats = (prev.repeats ?? 1) + (e.repeats ?? 1)
      continue
    }
    out.push({ ...e })
  }
  return out
}

function addedReport(e: TimelineLike): boolean {
  return e.action === 'add_report' && e.outcome !== 'refused'
}

function sameAttempt(a: TimelineLike, b: TimelineLike): boolean {
  return a.action === b.action && a.refusal === b.refusal && a.reason === b.reason && a.actor?.id === b.actor?.id && a.actor?.role === b.actor?.role
}
