#!/usr/bin/env bash
# Smoke check of the local Kafka and Redis started by scripts/dev/kafka.sh and redis.sh, with real
# clients: PING Redis (and a SET/GET), create a topic, produce one keyed message with acks=all,
# consume it back; with --restart, restart the broker on the same data and read it again.
#
#   scripts/dev/smoke.sh [--restart]
#
# Uses KAFKA_BROKERS (default 127.0.0.1:${KAFKA_PORT:-9092}) and REDIS_ADDR (default
# 127.0.0.1:${REDIS_PORT:-6379}). Leaves a topic `smoke.check` and a Redis key `smoke:check`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka="$here/kafka.sh"
brokers="${KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}"
redis_addr="${REDIS_ADDR:-127.0.0.1:${REDIS_PORT:-6379}}"
topic="smoke.check"
restart=""
[[ "${1:-}" == "--restart" ]] && restart=1

t0=$SECONDS
say() { printf 'smoke: %s\n' "$*"; }
fail() { say "FAILED: $*"; exit 1; }

# Redis
rhost="${redis_addr%:*}" rport="${redis_addr##*:}"
[[ "$(redis-cli -h "$rhost" -p "$rport" ping)" == PONG ]] || fail "no PONG from Redis at $redis_addr"
value="v-$(date +%s%N)"
redis-cli -h "$rhost" -p "$rport" set smoke:check "$value" >/dev/null
[[ "$(redis-cli -h "$rhost" -p "$rport" get smoke:check)" == "$value" ]] || fail "Redis GET did not return what SET wrote"
say "Redis $redis_addr: PONG, SET/GET ok"

# Kafka
"$kafka" tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$brokers" --create --if-not-exists \
	--topic "$topic" --partitions 3 --replication-factor 1 >/dev/null 2>&1 ||
	fail "could not create topic $topic on $brokers"
key="k-$$"
printf '%s:%s\n' "$key" "$value" | "$kafka" tool org.apache.kafka.tools.ConsoleProducer \
	--bootstrap-server "$brokers" --topic "$topic" \
	--reader-property parse.key=true --reader-property key.separator=: \
	--command-property acks=all --command-property enable.idempotence=true 2>/dev/null ||
	fail "produce to $topic failed"
say "Kafka $brokers: produced $key=$value to $topic (acks=all)"

consume() { # prints every key<TAB>value of the topic from the beginning
	local n
	# The sum of the partitions' end offsets, so the consumer stops as soon as it has read them all.
	n="$("$kafka" tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$brokers" \
		--topic "$topic" 2>/dev/null | awk -F: '{s += $NF} END {print s + 0}')"
	((n > 0)) || return 0
	"$kafka" tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$brokers" \
		--topic "$topic" --from-beginning --max-messages "$n" --timeout-ms 20000 \
		--formatter-property print.key=true 2>/dev/null || true
}
consume | grep -qxF "$key"$'\t'"$value" || fail "message $key not consumed back from $topic"
say "Kafka $brokers: consumed $key back"

if [[ -n "$restart" ]]; then
	"$kafka" restart
	got="$(consume)"
	grep -qxF "$key"$'\t'"$value" <<<"$got" || fail "message $key gone after the broker restart"
	say "Kafka restarted: $key still there ($(wc -l <<<"$got") message(s) in $topic)"
fi
say "ok in $((SECONDS - t0))s"
