#!/usr/bin/env bash
# InviteAgent commands per second over HTTP next to raw pgbench single-row
# inserts into an events-shaped table at the same concurrency, in one run.
#
# - `rdv serve` runs as its own process (release build, PostgreSQL, stateless
#   gateway: RDV_EMBEDDED_WORKERS=false) and wrk drives it with a lean C
#   client, as pgbench drives PostgreSQL (benches/invite.lua);
# - the in-process load driver (tests/src/bin/rdv-load.rs) adds embedded mode
#   (projectors and .eml files in the same process) and SQLite.
# Loopback only, bounded in time (DURATION per case) and requests.
#
#   bash benches/invite.sh            (needs PostgreSQL at $PGURL, pgbench, wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/postgres}
REQUESTS=${REQUESTS:-4000}
DURATION=${DURATION:-10}
PORT=${PORT:-18080}

cargo build --release -q -p rdv-gateway --bin rdv
cargo build --release -q -p rdv-tests --bin rdv-load
fresh_db() { psql "$PGURL" -qc "DROP DATABASE IF EXISTS $1" -qc "CREATE DATABASE $1"; echo "${PGURL%/*}/$1"; }
BENCHURL=$(fresh_db rdv_pgbench)
psql "$BENCHURL" -q -f benches/pgbench_events_schema.sql

echo "machine: $(nproc) cores, $(uname -r); PostgreSQL $(psql "$PGURL" -Atc 'show server_version')"
for clients in 1 8; do
  threads=$(( clients < 2 ? 1 : 2 ))
  tps=$(pgbench -n -c "$clients" -j "$threads" -T "$DURATION" -f benches/pgbench_events.sql "$BENCHURL" 2>&1 \
        | awk '/^tps/ {print int($3)}')
  echo "pgbench_insert clients=$clients rate=${tps}/s"

  # A separate gateway process on a fresh database, driven by wrk.
  data=$(mktemp -d)
  TOKEN=bench-platform-admin
  DATABASE_URL=$(fresh_db rdv_bench_gateway) RDV_DATA_DIR="$data" RDV_LISTEN="127.0.0.1:$PORT" \
    RDV_ADMIN_TOKEN=$TOKEN RDV_EMBEDDED_WORKERS=false RDV_SCHEDULER=false RDV_LOG=warn \
    ./target/release/rdv serve & server=$!
  trap 'kill "$server" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  api() { curl -fs -XPOST "http://127.0.0.1:$PORT$1" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$2"; }
  territory=$(api /v1/territories '{"name":"Drôme","departement_number":"26"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
  api "/v1/territories/$territory/services/service_social/activate" '{}' >/dev/null
  organisation=$(api "/v1/territories/$territory/organisations" '{"name":"CMS"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
  RDV_TOKEN=$TOKEN RDV_PATH="/v1/organisations/$organisation/agents" \
    wrk -t "$threads" -c "$clients" -d "${DURATION}s" --latency -s benches/invite.lua "http://127.0.0.1:$PORT" \
    | awk -v c="$clients" '/Requests\/sec/ {rate=$2} / 50%/ {p50=$2} / 99%/ {p99=$2} /Non-2xx|errors/ {print}
                            END {printf "invite_agent process=separate store=postgres clients=%s workers=false rate=%d/s p50=%s p99=%s\n", c, rate, p50, p99}'
  kill "$server"; wait "$server" || true; rm -rf "$data"

  ./target/release/rdv-load --clients "$clients" --requests "$REQUESTS" --postgres "$PGURL"
  ./target/release/rdv-load --clients "$clients" --requests "$REQUESTS"
done
psql "$PGURL" -qc "DROP DATABASE IF EXISTS rdv_pgbench" -qc "DROP DATABASE IF EXISTS rdv_bench_gateway"
