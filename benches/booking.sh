#!/usr/bin/env bash
# Usager bookings per second over HTTP (POST /v1/public/rdvs of offered
# slots, 50 agents) at 8 and 32 clients on PostgreSQL and SQLite, next to
# raw pgbench single-row inserts at the same concurrency, in one run; then
# 32 clients paced at 1,000 bookings/s on PostgreSQL (the issue's target).
# The load driver runs the app in-process (tests/src/bin/rdv-load.rs).
#
#   bash benches/booking.sh            (needs PostgreSQL at $PGURL and pgbench)
set -euo pipefail
cd "$(dirname "$0")/.."
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/postgres}
REQUESTS=${REQUESTS:-8000}
DURATION=${DURATION:-10}

cargo build --release -q -p rdv-tests --bin rdv-load
psql "$PGURL" -qc "DROP DATABASE IF EXISTS rdv_pgbench" -qc "CREATE DATABASE rdv_pgbench"
BENCHURL="${PGURL%/*}/rdv_pgbench"
psql "$BENCHURL" -q -f benches/pgbench_events_schema.sql

echo "machine: $(nproc) cores, $(uname -r); PostgreSQL $(psql "$PGURL" -Atc 'show server_version')"
for clients in 8 32; do
  tps=$(pgbench -n -c "$clients" -j 2 -T "$DURATION" -f benches/pgbench_events.sql "$BENCHURL" 2>&1 \
        | awk '/^tps/ {print int($3)}')
  echo "pgbench_insert clients=$clients rate=${tps}/s"
  ./target/release/rdv-load --scenario book --clients "$clients" --requests "$REQUESTS" --no-workers --postgres "$PGURL"
  ./target/release/rdv-load --scenario book --clients "$clients" --requests "$REQUESTS" --postgres "$PGURL"
  ./target/release/rdv-load --scenario book --clients "$clients" --requests "$REQUESTS"
done
# The target's load: 1,000 bookings a second offered by 32 clients (open
# loop, latency counted from when each request was due).
./target/release/rdv-load --scenario book --clients 32 --requests "$REQUESTS" --rate 1000 --no-workers --postgres "$PGURL"
psql "$PGURL" -qc "DROP DATABASE IF EXISTS rdv_pgbench"
