// Package realtime is the websocket gateway (protocol citybrain.v1, see
// docs/realtime-protocol.md). Clients authenticate at upgrade with a
// one-time ticket in Sec-WebSocket-Protocol, subscribe to a channel, get a
// snapshot, then deltas with a sequence number, and resume after a
// reconnect from their last sequence.
//
// Fan-out: the projection writes every incident change to a Redis stream in
// the same atomic step that updates the read model. Each gateway instance
// tails that stream (XREAD, no consumer group: every instance sees every
// delta) and filters per connection. The stream id is the sequence number,
// so it means the same on every instance and a client can resume on any of
// them; a since older than the stream's first entry gets "reload". This was
// chosen over one Kafka consumer group per instance because the snapshot and
// the deltas then come from the same store in the same order.
//
// Each connection has one writer goroutine and a bounded send queue; a
// client whose queue is full is disconnected (it reconnects and resumes)
// and never slows the others.
package realtime
