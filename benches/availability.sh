#!/usr/bin/env bash
# Slot searches on a generated territory (300 agents, 5 plages each, 10,000
# absences, 100,000 RDVs): 7-day usager searches and next-availability
# searches over HTTP, next to the same search by a naive rescan of the
# events, and the process's memory; on SQLite and PostgreSQL.
#
#   bash benches/availability.sh       (needs PostgreSQL at $PGURL)
set -euo pipefail
cd "$(dirname "$0")/.."
PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release -q -p rdv-tests --bin rdv-availability
./target/release/rdv-availability "$@"
./target/release/rdv-availability --postgres "$PGURL" "$@"
