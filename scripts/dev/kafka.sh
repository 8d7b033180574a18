#!/usr/bin/env bash
# A real Apache Kafka broker for development, integration tests and CI: one JVM that is both the
# KRaft controller and the broker, listening on loopback only.
#
#   scripts/dev/kafka.sh install   resolve the broker jars from Maven Central into scripts/kafka/lib
#                                  (mvn dependency:copy-dependencies; quiet; a no-op when up to date)
#   scripts/dev/kafka.sh start     format the storage on first use, start in the background, wait
#                                  until the broker answers a metadata request
#   scripts/dev/kafka.sh stop      controlled shutdown (SIGTERM, then SIGKILL after a timeout)
#   scripts/dev/kafka.sh restart   stop, then start on the same data (never reformats)
#   scripts/dev/kafka.sh kill      SIGKILL, as a crash would (then `start` recovers the log)
#   scripts/dev/kafka.sh status    running or not (exit 0 / 3), pid, address, version
#   scripts/dev/kafka.sh version   the Kafka version in lib/ (from the jar name)
#   scripts/dev/kafka.sh logs [N]  the last N (default 100) lines of the broker's log
#   scripts/dev/kafka.sh tool CLASS [ARGS...]
#                                  run a Kafka CLI class from the same jars, e.g.
#                                  tool org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#   scripts/dev/kafka.sh wipe      stop and delete the data dir (the next start formats anew)
#
# Environment:
#   KAFKA_PORT            client port (default 9092); the controller uses KAFKA_CONTROLLER_PORT
#                         (default KAFKA_PORT+1)
#   KAFKA_DATA_DIR        storage, config, logs and pid file (default <repo>/.cache/kafka, which is
#                         $PWD/.cache/kafka when run from the repository root)
#   KAFKA_HEAP            JVM heap (default 512m; the machines have 2 cores and other work to do)
#   KAFKA_START_TIMEOUT   seconds to wait for readiness (default 120)
#   KAFKA_SEGMENT_BYTES   log.segment.bytes (default 8 MiB: small, so retention and compaction act
#                         quickly and restarts recover little)
#   KAFKA_EXTRA_PROPS     extra server.properties lines (newline-separated), appended last
#
# The broker's own log is $KAFKA_DATA_DIR/logs/server.log. Topics are never auto-created
# (RELIABILITY.md rule 7): the services create theirs at start-up.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
kafka_home="$root/scripts/kafka"
lib="$kafka_home/lib"

port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
data_dir="${KAFKA_DATA_DIR:-$root/.cache/kafka}"
heap="${KAFKA_HEAP:-512m}"
start_timeout="${KAFKA_START_TIMEOUT:-120}"
segment_bytes="${KAFKA_SEGMENT_BYTES:-8388608}"

props="$data_dir/server.properties"
log_dirs="$data_dir/data"
logs="$data_dir/logs"
pid_file="$data_dir/kafka.pid"
main_class="kafka.Kafka"

say() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# version prints the Kafka version of the jars in lib/, e.g. 4.3.1.
version() {
	local jar
	jar="$(ls "$lib"/kafka_2.13-*.jar 2>/dev/null | head -n 1 || true)"
	[[ -n "$jar" ]] || return 1
	jar="${jar##*/kafka_2.13-}"
	printf '%s\n' "${jar%.jar}"
}

# pid prints the broker's pid if the pid file names a live process that is this broker.
pid() {
	local p
	[[ -f "$pid_file" ]] || return 1
	p="$(cat "$pid_file" 2>/dev/null || true)"
	[[ "$p" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$p" 2>/dev/null || return 1
	# Guard against a recycled pid: the process must be our broker with our config.
	tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$main_class $props" || return 1
	printf '%s\n' "$p"
}

# A Kafka CLI class from lib/ (warnings only on stderr): "${tool_java[@]}" CLASS ARGS...
tool_java=(java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1
	"-Dlog4j2.configurationFile=$kafka_home/tools-log4j2.properties" -cp "$lib/*")
java_tool() { "${tool_java[@]}" "$@"; }

cmd_install() {
	command -v java >/dev/null || die "java not found (the Kafka 4.x broker needs Java 17+)"
	command -v mvn >/dev/null || die "mvn not found (needed once to fetch the broker from Maven Central)"
	local stamp="$lib/.pom.sha256" want have=""
	want="$(sha256sum "$kafka_home/pom.xml" | cut -d' ' -f1)"
	[[ -f "$stamp" ]] && have="$(cat "$stamp")"
	if [[ "$have" == "$want" ]] && ls "$lib"/kafka_2.13-*.jar >/dev/null 2>&1; then
		return 0
	fi
	# pom changed or lib/ incomplete: copy afresh so no jar of another version is left behind.
	rm -rf "$lib"
	local out
	if ! out="$(cd "$kafka_home" && mvn -q -B -ntp dependency:copy-dependencies 2>&1)"; then
		printf '%s\n' "$out" >&2
		die "mvn dependency:copy-dependencies failed"
	fi
	ls "$lib"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka_2.13 jar in $lib after mvn"
	printf '%s\n' "$want" >"$stamp"
	say "installed Kafka $(version) ($(ls "$lib"/*.jar | wc -l) jars in ${lib#"$root"/})"
}

write_props() {
	mkdir -p "$data_dir" "$log_dirs" "$logs"
	cat >"$props.tmp" <<EOF
# Written by scripts/dev/kafka.sh on every start; edit the script (or KAFKA_EXTRA_PROPS), not this.
# Single-node KRaft: this process is both the controller and the broker.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$log_dirs

# Topics are created explicitly by the services (RELIABILITY.md rule 7).
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
unclean.leader.election.enable=false

# Internal topics on one node: replication factor 1, fewer partitions than the defaults.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=4

# Tests join consumer groups all the time: do not wait for more members.
group.initial.rebalance.delay.ms=0

# Small segments and indexes: retention and compaction act quickly, restarts recover little.
log.segment.bytes=$segment_bytes
log.index.size.max.bytes=1048576
log.retention.check.interval.ms=30000
metadata.log.segment.bytes=8388608
log.cleaner.dedupe.buffer.size=16777216

# Two cores on the machines.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
EOF
	if [[ -n "${KAFKA_EXTRA_PROPS:-}" ]]; then
		printf '\n# KAFKA_EXTRA_PROPS\n%s\n' "$KAFKA_EXTRA_PROPS" >>"$props.tmp"
	fi
	mv "$props.tmp" "$props"
}

format_storage() {
	[[ -f "$log_dirs/meta.properties" ]] && return 0
	local cid
	# A cluster id is 16 random bytes in URL-safe base64 without padding (22 characters); Kafka
	# never hands out one that starts with '-', since it would read as a command-line flag.
	cid="-"
	while [[ "$cid" == -* ]]; do
		cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
	done
	printf '%s\n' "$cid" >"$data_dir/cluster.id"
	local out
	if ! out="$(java_tool kafka.tools.StorageTool format --cluster-id "$cid" --config "$props" 2>&1)"; then
		printf '%s\n' "$out" >&2
		die "formatting $log_dirs failed"
	fi
	say "formatted ${log_dirs} (cluster id $cid)"
}

probe() { # one metadata round trip through the client port
	timeout 30 "${tool_java[@]}" org.apache.kafka.tools.TopicCommand \
		--bootstrap-server "127.0.0.1:$port" --list >/dev/null 2>&1
}

fail_start() {
	say "error: $*"
	say "last lines of $logs/server.log:"
	tail -n 40 "$logs/server.log" 2>/dev/null | sed 's/^/    /' >&2 || true
	if [[ -s "$logs/kafka.out" ]]; then
		say "last lines of $logs/kafka.out:"
		tail -n 20 "$logs/kafka.out" | sed 's/^/    /' >&2
	fi
	exit 1
}

cmd_start() {
	local p
	if p="$(pid)"; then
		say "already running (pid $p) on 127.0.0.1:$port"
		return 0
	fi
	rm -f "$pid_file"
	ls "$lib"/kafka_2.13-*.jar >/dev/null 2>&1 || cmd_install
	command -v java >/dev/null || die "java not found"
	if port_open "$port"; then
		die "127.0.0.1:$port is already in use by another process (set KAFKA_PORT)"
	fi
	if port_open "$controller_port"; then
		die "controller port 127.0.0.1:$controller_port is already in use (set KAFKA_CONTROLLER_PORT)"
	fi
	write_props
	format_storage

	local t0=$SECONDS
	# setsid: the broker is not in the caller's process group, so a Ctrl-C in the terminal (or a
	# test runner killing its group) does not take it down; stop it with `kafka.sh stop`.
	setsid nohup java -Xms128m -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
		-XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		-Dkafka.logs.dir="$logs" \
		-Dlog4j2.configurationFile="$kafka_home/log4j2.properties" \
		-cp "$lib/*" "$main_class" "$props" \
		>"$logs/kafka.out" 2>&1 </dev/null &
	p=$!
	printf '%s\n' "$p" >"$pid_file"

	# Ready means: the client port accepts connections and a metadata request is answered.
	while ! port_open "$port"; do
		kill -0 "$p" 2>/dev/null || fail_start "the broker exited during start-up"
		((SECONDS - t0 < start_timeout)) || fail_start "port $port not open after ${start_timeout}s"
		sleep 0.2
	done
	until probe; do
		kill -0 "$p" 2>/dev/null || fail_start "the broker exited during start-up"
		((SECONDS - t0 < start_timeout)) || fail_start "no metadata answer after ${start_timeout}s"
		sleep 0.5
	done
	say "Kafka $(version) ready on 127.0.0.1:$port (pid $p, data ${data_dir}, $((SECONDS - t0))s)"
}

cmd_stop() {
	local p i
	if ! p="$(pid)"; then
		rm -f "$pid_file"
		say "not running"
		return 0
	fi
	kill -TERM "$p" 2>/dev/null || true
	# A controlled shutdown of a single KRaft node takes a few seconds.
	for ((i = 0; i < 600; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$p" 2>/dev/null; then
		say "no exit 60s after SIGTERM; sending SIGKILL to $p"
		kill -KILL "$p" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$pid_file"
	say "stopped (pid $p)"
}

cmd_kill() {
	local p
	if ! p="$(pid)"; then
		say "not running"
		return 0
	fi
	kill -KILL "$p" 2>/dev/null || true
	while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
	rm -f "$pid_file"
	say "killed (SIGKILL, pid $p)"
}

cmd_status() {
	local p
	if p="$(pid)"; then
		if port_open "$port"; then
			echo "running: pid $p, 127.0.0.1:$port, Kafka $(version || echo '?'), data $data_dir"
			return 0
		fi
		echo "starting or stuck: pid $p alive, 127.0.0.1:$port not open (see $logs/server.log)"
		return 3
	fi
	echo "not running (data $data_dir)"
	return 3
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
restart)
	cmd_stop
	cmd_start
	;;
kill) cmd_kill ;;
status) cmd_status ;;
version) version || die "not installed (run: $0 install)" ;;
logs) tail -n "${1:-100}" "$logs/server.log" ;;
tool)
	[[ $# -ge 1 ]] || die "usage: $0 tool CLASS [ARGS...]"
	ls "$lib"/kafka_2.13-*.jar >/dev/null 2>&1 || cmd_install
	java_tool "$@"
	;;
wipe)
	cmd_stop
	rm -rf "$data_dir"
	say "deleted $data_dir"
	;;
*)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
	;;
esac
