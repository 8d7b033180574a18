// Package kafkabus is the platform's Kafka layer on segmentio/kafka-go, set
// up the way RELIABILITY.md requires: producers wait for all in-sync
// replicas, write synchronously with a short batch timeout and hash the key
// (murmur2, as Java clients do) so one partition orders all changes of one
// case; consumers fetch → handle → commit, retry in process with backoff,
// and send what still fails to the dead-letter topic with its origin before
// committing. Topics are created explicitly, never auto-created.
package kafkabus
