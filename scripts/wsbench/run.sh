#!/usr/bin/env bash
# Builds and runs wsbench (flags are passed through) with the open-files limit raised: 10,000
# connections need about 10,200 descriptors in the client process and as many in the gateway.
# Go raises the soft limit to the hard one by itself; this raises the hard one where allowed
# (root, or a hard limit that is already high enough).
#
#   REDIS_PORT=6390 REDIS_DATA_DIR=/tmp/wsbench-redis scripts/dev/redis.sh start
#   scripts/wsbench/run.sh -redis 127.0.0.1:6390
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
want="${WSBENCH_NOFILE:-16384}"
hard="$(ulimit -Hn)"
if [[ "$hard" != unlimited && "$hard" -lt "$want" ]]; then
	ulimit -Hn "$want" 2>/dev/null ||
		echo "wsbench: cannot raise the open-files hard limit above $hard (needs root); 10,000 clients need about 10,200" >&2
fi
ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true

bin="$(mktemp "${TMPDIR:-/tmp}/wsbench.XXXXXX")"
trap 'rm -f "$bin"' EXIT
(cd "$here/.." && go build -o "$bin" ./wsbench)
"$bin" "$@"
