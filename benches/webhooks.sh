#!/usr/bin/env bash
# Webhook deliveries to a local receiver (tests/src/bin/rdv-webhooks.rs):
# - the relay alone draining a backlog (3,000 RDVs x 4 endpoints = 12,000
#   deliveries) with one and two relay workers, on SQLite and PostgreSQL;
# - the delay from each agent booking's commit to its webhook's arrival, in
#   embedded mode (projectors and relay in the app), bookings paced at 500
#   and 800 a second, at 500 a second to 4 endpoints (2,000 deliveries/s),
#   and unpaced (8 clients, saturation).
# Loopback only, bounded by --rdvs.
#
#   bash benches/webhooks.sh            (needs PostgreSQL at $PGURL)
set -euo pipefail
cd "$(dirname "$0")/.."
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/postgres}

cargo build --release -q -p rdv-tests --bin rdv-webhooks
bench() { ./target/release/rdv-webhooks "$@" 2>&1 | grep '^webhooks'; }
for relays in 1 2; do
  bench --drain --rdvs 3000 --endpoints 4 --relays "$relays"
  bench --drain --rdvs 3000 --endpoints 4 --relays "$relays" --postgres "$PGURL"
done
for rate in 500 800; do
  bench --rdvs 4000 --clients 8 --rate "$rate"
  bench --rdvs 4000 --clients 8 --rate "$rate" --postgres "$PGURL"
done
# 2,000 deliveries/s: 500 bookings/s to 4 endpoints (the delay is the first
# endpoint's).
bench --rdvs 4000 --clients 8 --rate 500 --endpoints 4
bench --rdvs 4000 --clients 8 --rate 500 --endpoints 4 --postgres "$PGURL"
bench --rdvs 3000 --clients 8
bench --rdvs 3000 --clients 8 --postgres "$PGURL"
