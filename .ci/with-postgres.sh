#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a throwaway PostgreSQL
# cluster (loopback only, trust auth, fsync off: for tests, never for data you
# keep). The cluster and its files are removed when the command ends.
#
#   .ci/with-postgres.sh go test ./...
set -euo pipefail

find_bindir() {
  if [ -n "${PG_BINDIR:-}" ]; then echo "$PG_BINDIR"; return; fi
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"; return
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/pg_ctl" ]; then echo "$d"; return; fi
  done
  return 1
}

bindir=$(find_bindir) || {
  echo "with-postgres: no PostgreSQL server binaries (initdb, pg_ctl) found." >&2
  echo "Install them (Debian: apt-get install postgresql) or set PG_BINDIR." >&2
  exit 1
}

tmp=$(mktemp -d /tmp/nftsync-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  # initdb refuses to run as root: run the server as the postgres user.
  chown postgres "$tmp"
  as_pg=(runuser -u postgres --)
fi

cleanup() {
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"${as_pg[@]}" "$bindir/initdb" -D "$tmp/data" -A trust -U postgres -E UTF8 --no-locale >"$tmp/initdb.log" 2>&1 || {
  cat "$tmp/initdb.log" >&2; exit 1; }

started=""
for _ in 1 2 3 4 5; do
  port=$(( 20000 + RANDOM % 30000 ))
  if "${as_pg[@]}" "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 \
      -o "-p $port -k $tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400 -c shared_buffers=256MB" \
      start >/dev/null; then
    started=1; break
  fi
done
if [ -z "$started" ]; then
  echo "with-postgres: could not start PostgreSQL; server log:" >&2
  tail -n 30 "$tmp/server.log" >&2 || true
  exit 1
fi

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
TEST_POSTGRES_VERSION=$("$bindir/postgres" --version | awk '{print $3}')
export TEST_POSTGRES_VERSION
echo "with-postgres: PostgreSQL $TEST_POSTGRES_VERSION on 127.0.0.1:$port" >&2
"$@"
