#!/usr/bin/env bash
# Runs a command with a private, throw-away PostgreSQL server (Debian's postgresql), exporting
# STATION_TEST_DATABASE_URL for it:   scripts/with-postgres.sh .venv/bin/python -m pytest -q
# The server lives in a temporary folder, listens on a Unix socket and 127.0.0.1 only, and is stopped on exit.
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
RUN_AS=""
if [ "$(id -u)" -eq 0 ]; then RUN_AS="runuser -u postgres --"; fi
DIR=$(mktemp -d /tmp/station-pg.XXXXXX)
chmod 755 "$DIR"
[ -n "$RUN_AS" ] && chown postgres "$DIR"
PORT=${PGPORT_TEST:-$((20000 + RANDOM % 20000))}
PASS=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
echo "$PASS" > "$DIR/pw"; [ -n "$RUN_AS" ] && chown postgres "$DIR/pw"
# the cluster's superuser administers; the tests connect as "station", an ordinary role that may create databases
# (as the service's role would be: no superuser, so the log's revoked UPDATE/DELETE/TRUNCATE hold)
$RUN_AS "$BIN/initdb" -D "$DIR/data" -U pgadmin --pwfile="$DIR/pw" -A scram-sha-256 >/dev/null
$RUN_AS "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w \
  -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
cleanup() { $RUN_AS "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
PGPASSWORD="$PASS" $RUN_AS env PGPASSWORD="$PASS" "$BIN/psql" -q -h "$DIR" -p "$PORT" -U pgadmin -d postgres \
  -c "CREATE ROLE station LOGIN CREATEDB PASSWORD '$PASS'" -c "CREATE DATABASE bench OWNER station" >/dev/null
# the tests create a database of their own per station (from the server's "postgres" database, where "station" may
# not create tables); benchmarks and manual runs take the empty database "bench", which "station" owns
export STATION_TEST_DATABASE_URL="postgresql+psycopg://station:$PASS@127.0.0.1:$PORT/postgres"
export STATION_BENCH_DATABASE_URL="postgresql+psycopg://station:$PASS@127.0.0.1:$PORT/bench"
echo "PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT for this run"
"$@"
