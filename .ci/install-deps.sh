#!/usr/bin/env bash
# Installs what the test suite needs beyond Go, or says exactly how to:
#
#   - the PostgreSQL server and client (initdb, pg_ctl, psql): every database
#     test runs against a throwaway cluster (.ci/with-postgres.sh);
#   - Debian's headless Chromium: the API's browser tests (GraphiQL, River UI);
#   - python3-psycopg (psycopg 3): the test that enqueues jobs from Python.
#
# Idempotent: when everything is there it only checks (well under a second).
# As root on a machine with apt-get it installs what is missing; otherwise it
# stops with the exact command to run and exits 1, so nothing is skipped
# silently. `make test` and .ci/run call it.
set -euo pipefail

have_pg_server() {
  if [ -n "${PG_BINDIR:-}" ] && [ -x "$PG_BINDIR/pg_ctl" ]; then return 0; fi
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1
}

missing=()
have_pg_server && command -v psql >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
/usr/bin/python3 -c 'import psycopg' >/dev/null 2>&1 || missing+=(python3-psycopg)
command -v make >/dev/null 2>&1 || missing+=(make)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

# The Debian package names; PostgreSQL 15 when the release has it.
pkgs=()
for m in "${missing[@]}"; do
  case "$m" in
    postgresql) pkgs+=(postgresql-15) ;;
    *) pkgs+=("$m") ;;
  esac
done

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: the tests need: ${missing[*]}" >&2
  if command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: run as root: apt-get update && apt-get install -y ${pkgs[*]}" >&2
    echo "install-deps: (or: sudo .ci/install-deps.sh)" >&2
  else
    echo "install-deps: no apt-get here; install them with your package manager" >&2
    echo "install-deps: (PostgreSQL server and client, Chromium, psycopg 3 for /usr/bin/python3)" >&2
  fi
  exit 1
fi

echo "install-deps: installing ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if ! apt-get install -y -qq "${pkgs[@]}" >/dev/null; then
  # A release without postgresql-15: its default server version.
  pkgs=("${pkgs[@]/postgresql-15/postgresql}")
  apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
