#!/usr/bin/env bash
# Browser tests: starts the real citybrain binary (embedded broker and Redis, fresh data dir) on a
# free port with the simulator feeding it, then runs the Playwright scripts in web-ui/e2e against
# it in headless Chromium. Screenshots go to artifacts/. Needs `make build` first (make test-e2e).
# E2E='names' (globs, e.g. E2E='console wall*') runs only those scripts; each fails after
# E2E_SCRIPT_TIMEOUT_S (900) seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
data=$(mktemp -d)
export ARTIFACTS_DIR="${ARTIFACTS_DIR:-$root/artifacts}"
mkdir -p "$ARTIFACTS_DIR"
export BASE_URL="http://127.0.0.1:$port"

cleanup() {
	[[ -n "${sim:-}" ]] && kill "$sim" 2>/dev/null || true
	[[ -n "${cb:-}" ]] && kill "$cb" 2>/dev/null && wait "$cb" 2>/dev/null || true
	rm -rf "$data"
}
trap cleanup EXIT

# KAFKA_BROKERS/REDIS_ADDR from CI are for the integration suites; the browser test runs the
# all-in-one mode exactly as `make run` does.
env -u KAFKA_BROKERS -u REDIS_ADDR HTTP_ADDR="127.0.0.1:$port" DATA_DIR="$data" LOG_LEVEL=warn \
	./bin/citybrain -target=all 2>"$ARTIFACTS_DIR/citybrain-e2e.log" &
cb=$!
export E2E_SERVER_STARTED_MS=$(($(date +%s) * 1000)) # tests that need history (playback) wait for it
./bin/simulator -url "$BASE_URL" -rate "${SIM_RATE:-10}" -fleet "${SIM_FLEET:-60}" -quiet >"$ARTIFACTS_DIR/simulator-e2e.log" 2>&1 &
sim=$!
for _ in $(seq 1 120); do
	curl -fsS "$BASE_URL/readyz" >/dev/null 2>&1 && break
	sleep 0.5
done
curl -fsS "$BASE_URL/readyz" >/dev/null || { echo "citybrain did not become ready"; tail -50 "$ARTIFACTS_DIR/citybrain-e2e.log"; exit 1; }

rc=0
for script in web-ui/e2e/*.mjs; do
	case "$script" in *-lib.mjs) continue ;; esac # shared helpers, not tests
	if [[ -n "${E2E:-}" ]]; then # E2E='console wall*' runs a subset
		name=$(basename "$script" .mjs) want=0
		for g in $E2E; do [[ "$name" == $g ]] && want=1; done
		((want)) || continue
	fi
	echo "e2e: $script"
	# A script that hangs fails after E2E_SCRIPT_TIMEOUT_S instead of holding CI to its limit.
	(cd web-ui && timeout "${E2E_SCRIPT_TIMEOUT_S:-900}" node "../$script") || rc=1
done
exit $rc
