// Package realtime is the websocket gateway (protocol citybrain.v1, see
// docs/realtime-protocol.md). Clients authenticate at upgrade with a
// one-time ticket in Sec-WebSocket-Protocol, subscribe to channels (wall,
// dispatcher, worker), get a snapshot, then deltas with a sequence number,
// and resume after a reconnect from their last sequence.
//
// Fan-out: the projection writes every incident change to a Redis stream in
// the same atomic step that updates the read model. Each gateway instance
// tails that stream (XREAD, no consumer group: every instance sees every
// delta) and filters per connection. The stream id is the sequence number,
// so it means the same on every instance and a client can resume on any of
// them. This was chosen over one Kafka consumer group per instance because
// the snapshot and the deltas then come from the same store in the same
// order.
//
// Cost per delivery: a delta is decoded once and encoded once per channel
// into a complete websocket frame that every recipient shares; subscribers
// are found through indexes by scope (town, grid, worker), not by testing
// every connection; a connection's writer sends all its queued frames in
// one writev. Resumes are served from the last 5,000 deltas kept in memory,
// snapshots from a cache shared by every subscriber and advanced with those
// deltas, so a reconnect storm costs few Redis reads.
//
// Cost per connection: one reader goroutine, a writer goroutine only while
// there is something to write, and no write buffer; about 8 KB when idle.
//
// Besides incidents: the wall's mode (a "mode" entry of the same stream,
// wall channel only), the KPIs with the stats, and worker positions from a
// second stream, rt:pos, coalesced to one message per client per second
// (positions.go).
//
// Each connection has a bounded queue; a client whose queue is full is
// disconnected (it reconnects and resumes) and never slows the others.
// Gateway is safe for concurrent use.
package realtime
