// Package event defines the canonical, versioned messages that travel on the
// Kafka topics: Raw (raw.<source>), Event (events), Lifecycle (tasks), and
// the Incident and Task read models carried in them. Field names are the
// JSON wire names; adding fields is compatible, renaming is a new Schema.
package event
