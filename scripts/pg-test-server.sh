#!/bin/sh
# Starts a throwaway PostgreSQL cluster for the tests and prints its URL on stdout:
#   URL=$(sh scripts/pg-test-server.sh [start [DIR]])   # idempotent: a running DIR is reused
#   sh scripts/pg-test-server.sh stop [DIR]              # stops it and removes DIR
# DIR defaults to $LLMOPS_PG_DIR or /tmp/llmops-pg-test-<uid>. As root the cluster runs as
# the `postgres` OS user (postgres refuses root). Trust auth, 127.0.0.1 only, fsync off.
set -eu
cmd=${1:-start}
dir=${2:-${LLMOPS_PG_DIR:-/tmp/llmops-pg-test-$(id -u)}}
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
cd /   # the cluster runs as another user, who may not read the caller's directory
db=llmops_test

bindir=""
for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && bindir=$d; done
[ -n "$bindir" ] || { command -v initdb >/dev/null 2>&1 && bindir=$(dirname "$(command -v initdb)"); }
[ -n "$bindir" ] || { echo "pg-test-server: PostgreSQL server binaries not found (scripts/deps.sh installs postgresql)" >&2; exit 1; }

if [ "$(id -u)" = 0 ]; then
  owner=postgres
  as() { runuser -u postgres -- "$@"; }
else
  owner=$(id -un)
  as() { "$@"; }
fi

running() { [ -f "$dir/data/postmaster.pid" ] && as "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }
url() { echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/$db"; }

case "$cmd" in
stop)
  if [ -d "$dir/data" ] && running; then
    as "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  case "$dir" in /|"") exit 1 ;; esac
  rm -rf "$dir"
  exit 0 ;;
start) ;;
*) echo "usage: $0 [start [DIR] | stop [DIR]]" >&2; exit 2 ;;
esac

# Reuse only a server that answers (a killed postmaster can linger as a zombie pid).
if [ -f "$dir/port" ] && running && "$bindir/pg_isready" -q -h 127.0.0.1 -p "$(cat "$dir/port")" -d "$db" -U postgres; then
  url; exit 0
fi
# A stale or half-made DIR (crash, reboot): start over.
if [ -d "$dir" ]; then
  [ -d "$dir/data" ] && as "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
fi
mkdir -p "$dir"
chown "$owner" "$dir"
chmod 700 "$dir"
as test -w "$dir" -a -x "$dir" || { echo "pg-test-server: $dir is not reachable by the user '$owner' the server runs as; choose a DIR under /tmp" >&2; rm -rf "$dir"; exit 1; }
cd "$dir"   # postgres must be able to read its working directory
as "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 -N >"$dir/initdb.log" 2>&1 ||
  { echo "pg-test-server: initdb failed:" >&2; cat "$dir/initdb.log" >&2; exit 1; }

# Free port: try a few from a pid-derived start; postgres fails fast when one is taken.
port=$((20000 + ($$ * 7) % 30000))
tries=0
while :; do
  if as "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 20 \
       -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
       start >/dev/null 2>&1; then
    break
  fi
  tries=$((tries + 1))
  if [ $tries -ge 10 ]; then
    echo "pg-test-server: could not start postgres; log:" >&2; cat "$dir/server.log" >&2; exit 1
  fi
  port=$((port + 1))
done
echo "$port" >"$dir/port"
as "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
url
