#!/usr/bin/env bash
# The mixed load on a distributed deployment on this machine: a fresh
# PostgreSQL database, GATEWAYS gateways (default 2), one projector, one
# publisher into NATS and one relay, all release builds on loopback; then
# rdv-load drives CLIENTS clients (default 8) for DURATION seconds (default 30)
# through every gateway. Everything it starts stops when it ends.
#
#   cargo build --release --bin rdv -p rdv-gateway && cargo build --release -p rdv-tests --bin rdv-load
#   GATEWAYS=2 CLIENTS=8 DURATION=30 bash benches/mix-distributed.sh
set -euo pipefail

GATEWAYS=${GATEWAYS:-2}
CLIENTS=${CLIENTS:-8}
DURATION=${DURATION:-30}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
BIN=${BIN:-target/release}
database="rdv_load_$(date +%s)"

psql "$PG/postgres" -qc "CREATE DATABASE $database"
data=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" || true
  rm -rf "$data"
}
trap cleanup EXIT

export DATABASE_URL="$PG/$database" NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
export RDV_MASTER_KEY=$(head -c 32 /dev/urandom | base64) RDV_ADMIN_TOKEN=load-admin-token
# One address sends everything: no per-address limit on the public endpoints.
export RDV_EMBEDDED_WORKERS=false RDV_SCHEDULER=false RDV_NOW=2026-01-05T09:00:00Z RDV_PUBLIC_RATE_LIMIT=0
export RDV_DATA_DIR="$data" RDV_LOG=warn RDV_NATS_STREAM="RDV_LOAD_$database" RDV_NATS_PREFIX="load.$database"

"$BIN/rdv" migrate
targets=()
for i in $(seq 1 "$GATEWAYS"); do
  port=$((18080 + i))
  RDV_LISTEN=127.0.0.1:$port "$BIN/rdv" serve & pids+=($!)
  targets+=("http://127.0.0.1:$port")
done
"$BIN/rdv" project & pids+=($!)
"$BIN/rdv" publish & pids+=($!)
"$BIN/rdv" relay & pids+=($!)
for target in "${targets[@]}"; do
  for _ in $(seq 1 100); do
    curl -fsS "$target/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
joined=$(IFS=,; echo "${targets[*]}")
"$BIN/rdv-load" --scenario mix --clients "$CLIENTS" --seconds "$DURATION" \
  --targets "$joined" --admin-token "$RDV_ADMIN_TOKEN"
