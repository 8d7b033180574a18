// Package intake parses and validates what each source sends (the JSON
// schemas of the 12345 hotline, grid, emergency and traffic systems; CAP and
// Open311 in their own files) into a Report, the not-yet-enriched form of an
// event.Event. It does no I/O: ingest calls it to refuse bad input with a
// reason, and the enricher calls it again on the raw record to normalise.
package intake
