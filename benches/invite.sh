#!/usr/bin/env bash
# InviteAgent commands per second over HTTP (SQLite and PostgreSQL, 1 and 8
# clients) next to raw pgbench single-row inserts into an events-shaped
# table at the same concurrency, all in one run. Loopback only, bounded.
#
#   bash benches/invite.sh            (needs PostgreSQL at $PGURL and pgbench)
set -euo pipefail
cd "$(dirname "$0")/.."
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/postgres}
REQUESTS=${REQUESTS:-4000}
SECONDS_PER_PGBENCH=${SECONDS_PER_PGBENCH:-10}

cargo build --release -q -p rdv-tests --bin rdv-load
psql "$PGURL" -qc "DROP DATABASE IF EXISTS rdv_pgbench" -qc "CREATE DATABASE rdv_pgbench"
BENCHURL="${PGURL%/*}/rdv_pgbench"
psql "$BENCHURL" -q -f benches/pgbench_events_schema.sql

echo "machine: $(nproc) cores, $(uname -r); PostgreSQL $(psql "$PGURL" -Atc 'show server_version')"
for clients in 1 8; do
  jobs=$(( clients < 2 ? 1 : 2 ))
  tps=$(pgbench -n -c "$clients" -j "$jobs" -T "$SECONDS_PER_PGBENCH" -f benches/pgbench_events.sql "$BENCHURL" 2>&1 \
        | awk '/^tps/ {print int($3)}')
  echo "pgbench_insert clients=$clients rate=${tps}/s"
  ./target/release/rdv-load --clients "$clients" --requests "$REQUESTS" --no-workers --postgres "$PGURL"
  ./target/release/rdv-load --clients "$clients" --requests "$REQUESTS" --postgres "$PGURL"
  ./target/release/rdv-load --clients "$clients" --requests "$REQUESTS"
done
psql "$PGURL" -qc "DROP DATABASE IF EXISTS rdv_pgbench"
