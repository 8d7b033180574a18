#!/bin/sh
# Generates the sample city (gis/sample/data/) from a fresh clone:
# installs the pinned npm packages the generator reads, then runs it.
# Usage: gis/sample/generate.sh   (from anywhere; needs node/npm and go)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
gis=$(cd "$here/.." && pwd)
(cd "$here/generator" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
cd "$gis"
go run ./sample/cmd/gen -npm sample/generator/node_modules -out sample/data
