#!/bin/sh
# Request-logging benchmark on both backends: builds nothing, runs build/ops_log on a SQLite
# file in a temp dir and on a throwaway PostgreSQL cluster (scripts/pg-test-server.sh, in a
# directory of its own that is removed afterwards; fsync is off there, as in the tests).
# usage: bench/ops-log.sh   env: OPS_LOG=path/to/ops_log  N=200000  PG_URL=postgres://… (skip the throwaway)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OPS_LOG=${OPS_LOG:-$ROOT/build/ops_log}
N=${N:-200000}
[ -x "$OPS_LOG" ] || { echo "ops-log.sh: $OPS_LOG not built (cmake --build build)" >&2; exit 1; }
url=${PG_URL:-}
pgdir=""
if [ -z "$url" ]; then
  pgdir=$(mktemp -d /tmp/llmops-pg-bench-XXXXXX)
  trap 'sh "$ROOT/scripts/pg-test-server.sh" stop "$pgdir"' EXIT
  url=$(sh "$ROOT/scripts/pg-test-server.sh" start "$pgdir") || url=""
fi
if [ -n "$url" ]; then
  "$OPS_LOG" --n "$N" --pg "$url"
else
  echo "(PostgreSQL could not be started: SQLite only)"
  "$OPS_LOG" --n "$N"
fi
