#!/usr/bin/env bash
# Create+reveal benchmark of a release build over loopback, on SQLite and on
# PostgreSQL. Starts its own servers (rate limits off) and stops them.
#
#   scripts/bench.sh                     # 10 s per backend, 16 workers
#   BENCH_SECONDS=5 BENCH_CONCURRENCY=8 scripts/bench.sh
#
# PostgreSQL: a fresh database is created through HANDOFF_BENCH_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test) and dropped afterwards.
# If that server cannot be reached, the PostgreSQL run is skipped.
set -euo pipefail

cd "$(dirname "$0")/.."
SECONDS_PER_RUN="${BENCH_SECONDS:-10}"
CONCURRENCY="${BENCH_CONCURRENCY:-16}"
ADMIN_URL="${HANDOFF_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
PG_DB="handoff_bench_$$"
PG_CREATED=""
SERVER_PID=""
TMP="$(mktemp -d)"

cleanup() {
    stop_server
    if [[ -n "$PG_CREATED" ]]; then
        psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run LABEL DATABASE_URL
run() {
    local label="$1" url="$2" port
    port="$(free_port)"
    target/release/handoff serve --listen "127.0.0.1:$port" --database-url "$url" \
        --create-limit 0 --reveal-limit 0 2>"$TMP/$label.log" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "the $label server did not start:" >&2
            cat "$TMP/$label.log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "== $label =="
    local status=0
    timeout "$((SECONDS_PER_RUN + 60))" target/release/examples/bench \
        --server "http://127.0.0.1:$port" --seconds "$SECONDS_PER_RUN" --concurrency "$CONCURRENCY" \
        | tee "$TMP/$label.out" || status=$?
    stop_server
    return "$status"
}

cargo build --release --locked --bin handoff --example bench

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
failed=0
run sqlite "sqlite://$TMP/bench.db" || failed=1

if psql -q "$ADMIN_URL" -c "CREATE DATABASE $PG_DB" >/dev/null 2>"$TMP/psql.err"; then
    PG_CREATED=1
    run postgres "${ADMIN_URL%/*}/$PG_DB" || failed=1
else
    echo "== postgres == skipped: cannot create a database through $ADMIN_URL ($(head -1 "$TMP/psql.err"))"
fi

echo
echo "== summary ($SECONDS_PER_RUN s, $CONCURRENCY workers, loopback) =="
for label in sqlite postgres; do
    if [[ -f "$TMP/$label.out" ]]; then
        grep -E '^(create|reveal)' "$TMP/$label.out" | sed "s/^/$label /"
    fi
done
exit "$failed"
