#!/usr/bin/env bash
# A real Redis server for development, integration tests and CI, from Debian's redis-server
# package, on loopback only, with AOF on (appendfsync everysec) as production runs it.
#
#   scripts/dev/redis.sh install   apt-get install redis-server if redis-server is missing
#   scripts/dev/redis.sh start     start daemonized, wait until PING answers
#   scripts/dev/redis.sh stop      SHUTDOWN (the AOF is fsynced), then SIGTERM/SIGKILL by pid
#   scripts/dev/redis.sh restart   stop, then start on the same data (the AOF is replayed)
#   scripts/dev/redis.sh kill      SIGKILL, as a crash would (up to ~1 s of writes may be lost)
#   scripts/dev/redis.sh flush     FLUSHALL (projections are rebuildable from Kafka)
#   scripts/dev/redis.sh status    running or not (exit 0 / 3)
#   scripts/dev/redis.sh cli ARGS  redis-cli against this server
#   scripts/dev/redis.sh wipe      stop and delete the data dir
#
# Environment:
#   REDIS_PORT            port (default 6379)
#   REDIS_DATA_DIR        data, config, log and pid file (default <repo>/.cache/redis, which is
#                         $PWD/.cache/redis when run from the repository root)
#   REDIS_START_TIMEOUT   seconds to wait for PING (default 30)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

port="${REDIS_PORT:-6379}"
data_dir="${REDIS_DATA_DIR:-$root/.cache/redis}"
start_timeout="${REDIS_START_TIMEOUT:-30}"
conf="$data_dir/redis.conf"
pid_file="$data_dir/redis.pid"
log_file="$data_dir/redis.log"

say() { printf 'redis.sh: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
cli() { redis-cli -h 127.0.0.1 -p "$port" "$@"; }

# pid prints the server's pid if the pid file names a live redis-server.
pid() {
	local p
	[[ -f "$pid_file" ]] || return 1
	p="$(cat "$pid_file" 2>/dev/null || true)"
	[[ "$p" =~ ^[0-9]+$ ]] || return 1
	kill -0 "$p" 2>/dev/null || return 1
	grep -q redis-server "/proc/$p/comm" 2>/dev/null || grep -qa redis-server "/proc/$p/cmdline" 2>/dev/null || return 1
	printf '%s\n' "$p"
}

apt_install() { # apt_install PKG...: apt-get update only if the first attempt cannot find them
	local sudo="" policy=/usr/sbin/policy-rc.d made_policy="" rc=0
	[[ $(id -u) -eq 0 ]] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	# Keep the package's postinst from starting a system Redis on 6379 (machines without a
	# policy-rc.d, i.e. not a container image that already has one).
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && made_policy=1
	fi
	if ! $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
		$sudo apt-get update -qq >/dev/null &&
			$sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null || rc=$?
	fi
	if [[ -n "$made_policy" ]]; then $sudo rm -f "$policy"; fi
	return "$rc"
}

cmd_install() {
	if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
		return 0
	fi
	command -v apt-get >/dev/null || die "redis-server is missing and there is no apt-get; install Redis 7 by hand"
	apt_install redis-server
	command -v redis-server >/dev/null || die "redis-server still missing after apt-get install"
	say "installed $(redis-server --version | cut -d' ' -f1-3)"
}

write_conf() {
	mkdir -p "$data_dir"
	cat >"$conf" <<EOF
# Written by scripts/dev/redis.sh on every start; edit the script, not this.
bind 127.0.0.1
protected-mode yes
port $port
daemonize yes
pidfile $pid_file
logfile $log_file
loglevel notice
dir $data_dir
# Projections only (RELIABILITY.md): AOF everysec, as in production; no RDB snapshots.
appendonly yes
appendfsync everysec
appenddirname appendonly
save ""
databases 16
maxclients 10000
EOF
}

cmd_start() {
	local p t0=$SECONDS
	if p="$(pid)"; then
		say "already running (pid $p) on 127.0.0.1:$port"
		return 0
	fi
	rm -f "$pid_file"
	command -v redis-server >/dev/null || cmd_install
	if port_open "$port"; then
		die "127.0.0.1:$port is already in use by another process (set REDIS_PORT)"
	fi
	write_conf
	if ! redis-server "$conf"; then
		tail -n 20 "$log_file" >&2 2>/dev/null || true
		die "redis-server did not start"
	fi
	until [[ "$(cli ping 2>/dev/null)" == "PONG" ]]; do
		if ((SECONDS - t0 >= start_timeout)); then
			say "last lines of $log_file:"
			tail -n 20 "$log_file" | sed 's/^/    /' >&2 || true
			die "no PONG from 127.0.0.1:$port after ${start_timeout}s"
		fi
		sleep 0.1
	done
	# While the AOF is being replayed PING answers -LOADING, not PONG: PONG means ready.
	say "$(redis-server --version | cut -d' ' -f1-3) ready on 127.0.0.1:$port (pid $(cat "$pid_file"), data $data_dir)"
}

cmd_stop() {
	local p i
	if ! p="$(pid)"; then
		rm -f "$pid_file"
		say "not running"
		return 0
	fi
	cli shutdown >/dev/null 2>&1 || kill -TERM "$p" 2>/dev/null || true
	for ((i = 0; i < 150; i++)); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$p" 2>/dev/null; then
		say "no exit 15s after SHUTDOWN; sending SIGKILL to $p"
		kill -KILL "$p" 2>/dev/null || true
		sleep 0.2
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
	if p="$(pid)" && [[ "$(cli ping 2>/dev/null)" == "PONG" ]]; then
		echo "running: pid $p, 127.0.0.1:$port, $(redis-server --version | cut -d' ' -f3), data $data_dir"
		return 0
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
flush)
	[[ "$(cli flushall)" == "OK" ]] || die "FLUSHALL failed on 127.0.0.1:$port"
	say "flushed 127.0.0.1:$port"
	;;
kill) cmd_kill ;;
status) cmd_status ;;
cli) cli "$@" ;;
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
