#!/usr/bin/env bash
# A local citybrain cluster on one machine: a real Kafka broker and Redis (scripts/dev/kafka.sh and
# redis.sh, each on this run's own port and data dir, unless KAFKA_BROKERS / REDIS_ADDR are given),
# then N processes of every target (ingest, enricher, dispatcher, realtime, api), each on its own
# HTTP port, sharing one AUTH_SECRET, with distinct INSTANCE_IDs and a TOPIC_PREFIX / REDIS_PREFIX
# unique to the run. Logs, pids and the run's environment live in the run dir.
#
#   scripts/cluster/cluster.sh start [N]         build the binary, start servers and N (default 2)
#                                                processes per target, wait until all are ready
#   scripts/cluster/cluster.sh stop              stop the processes (SIGTERM), then the servers this
#                                                run started
#   scripts/cluster/cluster.sh status            every process: pid, port, alive/ready (exit 3 if
#                                                any is down)
#   scripts/cluster/cluster.sh ports             which port serves what
#   scripts/cluster/cluster.sh env               the run's environment (eval "$(... env)")
#   scripts/cluster/cluster.sh kill TARGET I     SIGKILL one process, as a crash would
#   scripts/cluster/cluster.sh term TARGET I     SIGTERM one process and wait for its exit
#   scripts/cluster/cluster.sh up TARGET I       start one process (again) and wait until ready
#   scripts/cluster/cluster.sh restart TARGET I  term, then up
#   scripts/cluster/cluster.sh logs TARGET I [N] the last N (default 50) lines of its log
#   scripts/cluster/cluster.sh kafka CMD...      scripts/dev/kafka.sh CMD on this run's broker
#                                                (restart, kill, start, status, tool ...)
#   scripts/cluster/cluster.sh redis CMD...      scripts/dev/redis.sh CMD on this run's Redis
#                                                (flush, restart, kill, cli ...)
#   scripts/cluster/cluster.sh citybrain ARGS... the binary with the run's environment,
#                                                e.g. `citybrain rebuild`
#
# Which port serves what (all ports serve GET /livez, /readyz, /metrics):
#
#   ingest      base+1 … base+N    POST /api/v1/ingest/{hotline,grid,emergency,traffic,cap},
#                                  /open311/v2/* (GET and POST)
#   enricher    base+11 …          health and metrics only (consumes raw.*, produces events)
#   dispatcher  base+21 …          health and metrics only (consumes events+commands, produces
#                                  tasks; projects tasks into Redis; rebuilds Redis at start-up
#                                  when it is empty)
#   realtime    base+31 …          GET /ws (websocket, protocol citybrain.v1)
#   api         base+41 …          /api/v1/incidents, /api/v1/tasks, /api/v1/auth/*, stats, GIS,
#                                  the UI (/wall, /console, /m if built)
#
# Environment:
#   CLUSTER_N            processes per target (default 2; `start N` overrides)
#   CLUSTER_DIR          where run dirs are made (default <repo>/.cache/cluster); `current` links
#                        to the newest run
#   CLUSTER_RUN          the run dir the other commands act on (default CLUSTER_DIR/current)
#   CLUSTER_RUN_ID       the name of the run dir `start` makes (default: time and random; a
#                        program that starts runs concurrently names its own, since `current`
#                        moves)
#   CLUSTER_BASE_PORT    first port to try for the services (default 18100; the next free
#                        block of 100 is used)
#   CITYBRAIN_BIN        use this binary instead of building one into the run dir
#   KAFKA_BROKERS        use this Kafka instead of starting one (then `kafka` commands refuse)
#   REDIS_ADDR           use this Redis instead of starting one (then `redis` commands refuse)
#   KAFKA_PARTITIONS     partitions of each topic (default 6); LOG_LEVEL (default info)
#   KAFKA_HEAP           heap of the broker this run starts (default 512m)
#   INGEST_RATE_PER_MINUTE  per-client intake limit (default 100000000: all local load comes from
#                        one address, 127.0.0.1)
#
# Two runs can share one Kafka and one Redis (their TOPIC_PREFIX and REDIS_PREFIX differ), but the
# `kafka` and `redis` fault commands act only on servers the run started itself.
# shellcheck disable=SC2153 # KAFKA_PORT, REDIS_PORT, … come from the run's env file
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
targets=(ingest enricher dispatcher realtime api)

say() { printf 'cluster.sh: %s\n' "$*" >&2; }
die() {
	say "error: $*"
	exit 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

cluster_dir="${CLUSTER_DIR:-$root/.cache/cluster}"

# offset TARGET: the target's port offset inside the run's block.
offset() {
	case "$1" in
	ingest) echo 0 ;; enricher) echo 10 ;; dispatcher) echo 20 ;; realtime) echo 30 ;; api) echo 40 ;;
	*) die "unknown target $1 (want ${targets[*]})" ;;
	esac
}

# free_from PORT [WIDTH]: the first port ≥ PORT such that PORT … PORT+WIDTH-1 are all free.
free_from() {
	local p="$1" w="${2:-1}" i ok
	while ((p + w < 65000)); do
		ok=1
		for ((i = 0; i < w; i++)); do
			if port_open $((p + i)); then
				ok=""
				break
			fi
		done
		if [[ -n "$ok" ]]; then
			echo "$p"
			return 0
		fi
		p=$((p + w))
	done
	die "no free port block of $w from $1"
}

# load_run: read the run's environment (written by start).
load_run() {
	run="${CLUSTER_RUN:-$cluster_dir/current}"
	[[ -f "$run/env" ]] || die "no cluster run at $run (start one: $0 start)"
	run="$(cd "$run" && pwd -P)"
	# shellcheck disable=SC1091
	source "$run/env"
}

# proc_env TARGET I: the environment of one process.
proc_env() {
	local t="$1" i="$2"
	local port=$((CLUSTER_BASE + $(offset "$t") + i))
	printf '%s\n' \
		"KAFKA_BROKERS=$KAFKA_BROKERS" "REDIS_ADDR=$REDIS_ADDR" \
		"TOPIC_PREFIX=$TOPIC_PREFIX" "REDIS_PREFIX=$REDIS_PREFIX" \
		"AUTH_SECRET=$AUTH_SECRET" "KAFKA_PARTITIONS=$KAFKA_PARTITIONS" \
		"LOG_LEVEL=$LOG_LEVEL" "HTTP_ADDR=127.0.0.1:$port" \
		"INSTANCE_ID=${RUN_ID}-$t-$i" "DATA_DIR=$run/data/$t-$i" \
		"INGEST_RATE_PER_MINUTE=$INGEST_RATE_PER_MINUTE"
}

port_of() { echo $((CLUSTER_BASE + $(offset "$1") + $2)); }

pid_of() {
	local f="$run/pids/$1-$2.pid" p
	[[ -f "$f" ]] || return 1
	p="$(cat "$f")"
	kill -0 "$p" 2>/dev/null || return 1
	grep -qa -- "-target=$1" "/proc/$p/cmdline" 2>/dev/null || return 1
	echo "$p"
}

ready() { curl -fsS -m 2 -o /dev/null "http://127.0.0.1:$(port_of "$1" "$2")/readyz" 2>/dev/null; }

# up TARGET I: start one process in its own session (a Ctrl-C in the caller's terminal does not
# reach it) and wait until /readyz answers 200.
cmd_up() {
	local t="$1" i="$2" p t0=$SECONDS
	offset "$t" >/dev/null
	if p="$(pid_of "$t" "$i")"; then
		say "$t-$i already running (pid $p)"
		return 0
	fi
	mkdir -p "$run/logs" "$run/pids" "$run/data/$t-$i"
	local -a envs
	mapfile -t envs < <(proc_env "$t" "$i")
	printf '\n=== start %s\n' "$(date -u +%FT%TZ)" >>"$run/logs/$t-$i.log"
	# 9>&-: the port lock of `start` stays with start, not with the processes.
	setsid nohup env "${envs[@]}" "$BIN" "-target=$t" >>"$run/logs/$t-$i.log" 2>&1 </dev/null 9>&- &
	p=$!
	echo "$p" >"$run/pids/$t-$i.pid"
	until ready "$t" "$i"; do
		kill -0 "$p" 2>/dev/null || {
			tail -n 20 "$run/logs/$t-$i.log" >&2
			die "$t-$i exited during start-up (log $run/logs/$t-$i.log)"
		}
		((SECONDS - t0 < ${CLUSTER_START_TIMEOUT:-180})) || die "$t-$i not ready after ${CLUSTER_START_TIMEOUT:-180}s"
		sleep 0.2
	done
	say "$t-$i ready on 127.0.0.1:$(port_of "$t" "$i") (pid $p, $((SECONDS - t0))s)"
}

cmd_signal() { # cmd_signal SIG TARGET I
	local sig="$1" t="$2" i="$3" p n
	if ! p="$(pid_of "$t" "$i")"; then
		say "$t-$i not running"
		return 0
	fi
	kill "-$sig" "$p" 2>/dev/null || true
	for ((n = 0; n < 300; n++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$p" 2>/dev/null; then
		say "$t-$i still alive 30s after SIG$sig: SIGKILL"
		kill -KILL "$p" 2>/dev/null || true
		while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
	fi
	rm -f "$run/pids/$t-$i.pid"
	say "$t-$i stopped (SIG$sig, pid $p)"
}

cmd_start() {
	local n="${1:-${CLUSTER_N:-2}}"
	[[ "$n" =~ ^[1-9]$ ]] || die "N must be 1 … 9, not $n"
	command -v curl >/dev/null || die "curl is needed"
	RUN_ID="${CLUSTER_RUN_ID:-$(date -u +%Y%m%d-%H%M%S)-$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
	[[ "$RUN_ID" =~ ^[A-Za-z0-9._-]+$ ]] || die "CLUSTER_RUN_ID: letters, digits, . _ - only"
	[[ ! -e "$cluster_dir/$RUN_ID" ]] || die "run $RUN_ID exists already"
	run="$cluster_dir/$RUN_ID"
	mkdir -p "$run/logs" "$run/pids" "$run/data"
	ln -sfn "$RUN_ID" "$cluster_dir/current"

	# The binary, copied into the run dir so that a rebuild of bin/ elsewhere does not change what a
	# restarted process runs.
	BIN="$run/citybrain"
	if [[ -n "${CITYBRAIN_BIN:-}" ]]; then
		cp "$CITYBRAIN_BIN" "$BIN"
	else
		if [[ ! -f "$root/gis/sample/data/district.geojson" ]]; then
			say "generating the sample city (make gis-data)"
			make -C "$root" --no-print-directory gis-data >&2
		fi
		say "building citybrain into $run"
		(cd "$root" && go build -o "$BIN" ./services/cmd/citybrain)
	fi

	# Two runs starting at once would pick the same free ports: take them one at a time (the lock
	# is held until this run's servers and processes listen).
	exec 9>"${TMPDIR:-/tmp}/citybrain-cluster-ports.lock"
	flock -w 600 9 || die "another cluster start holds the port lock"
	local kafka_port="" redis_port="" own_kafka="" own_redis=""
	if [[ -z "${KAFKA_BROKERS:-}" ]]; then
		kafka_port="$(free_from "${CLUSTER_KAFKA_PORT:-29500}" 2)"
		own_kafka=1
		KAFKA_BROKERS="127.0.0.1:$kafka_port"
	fi
	if [[ -z "${REDIS_ADDR:-}" ]]; then
		redis_port="$(free_from "${CLUSTER_REDIS_PORT:-26500}" 1)"
		own_redis=1
		REDIS_ADDR="127.0.0.1:$redis_port"
	fi
	local base
	base="$(free_from "${CLUSTER_BASE_PORT:-18100}" 100)"
	cat >"$run/env" <<EOF
# Written by scripts/cluster/cluster.sh start; the environment of this cluster run.
RUN_ID=$RUN_ID
CLUSTER_N=$n
CLUSTER_BASE=$base
BIN=$BIN
KAFKA_BROKERS=$KAFKA_BROKERS
REDIS_ADDR=$REDIS_ADDR
OWN_KAFKA=$own_kafka
OWN_REDIS=$own_redis
KAFKA_PORT=$kafka_port
KAFKA_DATA_DIR=$run/kafka
REDIS_PORT=$redis_port
REDIS_DATA_DIR=$run/redis
TOPIC_PREFIX=cb-$RUN_ID.
REDIS_PREFIX=cb-$RUN_ID:
AUTH_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
KAFKA_PARTITIONS=${KAFKA_PARTITIONS:-6}
LOG_LEVEL=${LOG_LEVEL:-info}
# Every load generator on this machine is one client address (127.0.0.1): lift the per-client
# intake limit (6000/min by default) so it does not cap the cluster.
INGEST_RATE_PER_MINUTE=${INGEST_RATE_PER_MINUTE:-100000000}
EOF
	load_run_from "$run"
	if [[ -n "$own_redis" ]]; then
		REDIS_PORT="$redis_port" REDIS_DATA_DIR="$run/redis" "$root/scripts/dev/redis.sh" start 9>&-
	fi
	if [[ -n "$own_kafka" ]]; then
		KAFKA_PORT="$kafka_port" KAFKA_DATA_DIR="$run/kafka" KAFKA_HEAP="${KAFKA_HEAP:-512m}" "$root/scripts/dev/kafka.sh" start 9>&-
	fi
	say "creating topics (prefix $TOPIC_PREFIX)"
	local -a envs
	mapfile -t envs < <(proc_env api 0)
	env "${envs[@]}" "$BIN" topics >>"$run/logs/topics.log" 2>&1 || {
		tail -n 20 "$run/logs/topics.log" >&2
		die "citybrain topics failed"
	}
	# Dispatchers first: they rebuild the projections when Redis is empty, and the others'
	# readiness does not depend on it. Then everything else in parallel.
	local t i pids=()
	for ((i = 1; i <= n; i++)); do cmd_up dispatcher "$i" & pids+=($!); done
	for t in ingest enricher realtime api; do
		for ((i = 1; i <= n; i++)); do cmd_up "$t" "$i" & pids+=($!); done
	done
	local rc=0 p
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	((rc == 0)) || die "some processes did not start (logs in $run/logs)"
	exec 9>&-
	say "cluster $RUN_ID up: $n per target; run dir $run"
	cmd_ports
}

load_run_from() {
	run="$1"
	# shellcheck disable=SC1091
	source "$run/env"
}

cmd_stop() {
	local t i pids=() p
	for t in ingest api realtime enricher dispatcher; do
		for ((i = 1; i <= CLUSTER_N; i++)); do cmd_signal TERM "$t" "$i" & pids+=($!); done
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
	if [[ -n "$OWN_KAFKA" ]]; then KAFKA_PORT="$KAFKA_PORT" KAFKA_DATA_DIR="$KAFKA_DATA_DIR" "$root/scripts/dev/kafka.sh" stop || true; fi
	if [[ -n "$OWN_REDIS" ]]; then REDIS_PORT="$REDIS_PORT" REDIS_DATA_DIR="$REDIS_DATA_DIR" "$root/scripts/dev/redis.sh" stop || true; fi
	say "cluster $RUN_ID stopped (logs kept in $run/logs; delete $run to reclaim its Kafka data)"
}

cmd_status() {
	local t i p rc=0 state
	echo "run $RUN_ID ($run): KAFKA_BROKERS=$KAFKA_BROKERS REDIS_ADDR=$REDIS_ADDR TOPIC_PREFIX=$TOPIC_PREFIX"
	for t in "${targets[@]}"; do
		for ((i = 1; i <= CLUSTER_N; i++)); do
			if p="$(pid_of "$t" "$i")"; then
				if ready "$t" "$i"; then state=ready; else
					state="alive, not ready"
					rc=3
				fi
			else
				p=-
				state=down
				rc=3
			fi
			printf '%-10s %d  127.0.0.1:%-5d pid %-7s %s\n' "$t" "$i" "$(port_of "$t" "$i")" "$p" "$state"
		done
	done
	return "$rc"
}

cmd_ports() {
	local t i list
	for t in "${targets[@]}"; do
		list=""
		for ((i = 1; i <= CLUSTER_N; i++)); do list+=" 127.0.0.1:$(port_of "$t" "$i")"; done
		case "$t" in
		ingest) printf '%-10s%s   POST /api/v1/ingest/{source}, /open311/v2/*\n' "$t" "$list" ;;
		enricher) printf '%-10s%s   (health and metrics only)\n' "$t" "$list" ;;
		dispatcher) printf '%-10s%s   (health and metrics only; rebuilds Redis at start when empty)\n' "$t" "$list" ;;
		realtime) printf '%-10s%s   GET /ws (citybrain.v1)\n' "$t" "$list" ;;
		api) printf '%-10s%s   /api/v1/incidents, /api/v1/tasks, /api/v1/auth/*, UI\n' "$t" "$list" ;;
		esac
	done
	echo "every port: GET /livez /readyz /metrics;  kafka $KAFKA_BROKERS  redis $REDIS_ADDR"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
start) cmd_start "$@" ;;
stop)
	load_run
	cmd_stop
	;;
status)
	load_run
	cmd_status
	;;
ports)
	load_run
	cmd_ports
	;;
env)
	load_run
	printf 'export RUN_DIR=%q\n' "$run"
	grep -E '^[A-Z_]+=' "$run/env" | sed 's/^/export /'
	;;
kill | term | up | restart | logs)
	[[ $# -ge 2 ]] || die "usage: $0 $cmd TARGET I"
	load_run
	case "$cmd" in
	kill) cmd_signal KILL "$1" "$2" ;;
	term) cmd_signal TERM "$1" "$2" ;;
	up) cmd_up "$1" "$2" ;;
	restart)
		cmd_signal TERM "$1" "$2"
		cmd_up "$1" "$2"
		;;
	logs) tail -n "${3:-50}" "$run/logs/$1-$2.log" ;;
	esac
	;;
kafka)
	load_run
	[[ -n "$OWN_KAFKA" ]] || die "this run uses KAFKA_BROKERS=$KAFKA_BROKERS, which it did not start"
	KAFKA_PORT="$KAFKA_PORT" KAFKA_DATA_DIR="$KAFKA_DATA_DIR" exec "$root/scripts/dev/kafka.sh" "$@"
	;;
redis)
	load_run
	[[ -n "$OWN_REDIS" ]] || die "this run uses REDIS_ADDR=$REDIS_ADDR, which it did not start"
	REDIS_PORT="$REDIS_PORT" REDIS_DATA_DIR="$REDIS_DATA_DIR" exec "$root/scripts/dev/redis.sh" "$@"
	;;
citybrain)
	load_run
	mapfile -t envs < <(proc_env api 0)
	exec env "${envs[@]}" "$BIN" "$@"
	;;
*)
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
	exit 2
	;;
esac
