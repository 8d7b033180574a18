// Package redisstore keeps the platform's projections in Redis: incidents,
// their audit timelines, KPI counters, the realtime delta stream, and the
// small keys services need (idempotency marks, websocket tickets). Nothing
// here is a system of record: every projection key can be flushed and
// rebuilt by replaying the tasks topic (package projection).
//
// Key layout, under a configurable prefix (default "cb:"):
//
//	inc:<id>          hash  version, state, json (the incident read model)
//	inc:updated       zset  id by updated time (ms)
//	inc:open          zset  id of open incidents by updated time
//	tl:<id>           list  lifecycle JSON, oldest first (the audit trail)
//	stats:day:<date>  hash  reports per source on that local date
//	stats:state       hash  incidents per state
//	rt:wall           stream incident deltas for the realtime gateway
//	meta              hash  built=1 once a rebuild finished
//	rebuild           hash  done, total, since: a rebuild's progress (2 min TTL)
//	fuse:ev:<event>   string the incident an event was fused into (31 days)
//	fuse:<family>:cell:<x>,<y>  geo  open incidents of a family in one
//	                  FuseCellDeg cell (the fusion index, fuse.go)
//	fuse:<family>:cells hash incident → its cell key
//	fuse:<family>:seen  zset incident by its last report (ms)
//	seen:<kind>:<id>  string idempotency marks, with TTL
//	ticket:<t>        string websocket tickets, 30 s TTL, taken once
//
// Layout names this shape; a snapshot of the embedded Redis made with
// another is not loaded (the projections are rebuilt from Kafka instead).
//
// Apply updates one incident atomically (a Lua script) and only when the
// lifecycle's version is newer than the stored one, so replays and
// duplicates change nothing.
package redisstore
