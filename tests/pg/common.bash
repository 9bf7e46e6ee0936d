# common.bash - for the PostgreSQL tests (sourced after tests/lib.sh): a private
# database per test on the server tests/rig/pg started, dropped at exit.
[ -f "${PG_ENV:-}" ] || { echo "not ok - no PostgreSQL env file (PG_ENV=${PG_ENV:-}; run tests/rig/pg up)"; exit 1; }
set -a; . "$PG_ENV"; set +a
PG_ADMIN=$MTASTS_PG_URL
PG_DBS=()
# pg_db NAME: create a fresh database; its URL is left in PG_URL.
pg_db() {
	local db="t_$1_$$"
	psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
	psql "$PG_ADMIN" -qAtc "CREATE DATABASE $db" >/dev/null || return 1
	PG_DBS+=("$db")
	PG_URL="postgresql://mtasts@$MTASTS_PG_ADDR:$MTASTS_PG_PORT/$db"
}
pg_drop_all() {
	local db
	for db in "${PG_DBS[@]}"; do psql "$PG_ADMIN" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1; done
}
pq() { psql "$1" -qAtc "$2"; }
