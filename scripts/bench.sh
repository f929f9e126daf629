#!/usr/bin/env bash
# The benchmark of issue 15, in one run over loopback: a release build of
# handoff on SQLite and on PostgreSQL, and Snappass beside it where it can be
# installed. Starts its own servers (rate limits off) and stops them.
#
#   scripts/bench.sh            # 3 s per operation, 8, 32 and 128 connections
#   scripts/bench.sh --quick    # 1 s per operation, 8 and 32 connections
#   BENCH_SECONDS=5 BENCH_CONNS="32" scripts/bench.sh
#   BENCH_BASELINE=/path/to/older/handoff scripts/bench.sh
#   scripts/bench.sh --files    # file transfers only (issue 14), see below
#   scripts/bench.sh --uploads  # creates alone and during uploads (issue 15), see below
#   BENCH_BIN=/path/to/handoff BENCH_TOOL=/path/to/bench scripts/bench.sh  # no build
#   BENCH_SERVERS="sqlite snappass" scripts/bench.sh  # only these servers' cells
#
# Per server and concurrency (servers interleaved within each concurrency, so
# a busy moment of the machine does not land on one of them only): creates,
# metadata GETs, reveals and a static asset GET per second with p50 and p99;
# then the disk's rate of single write+fdatasync in the directory that holds
# the SQLite file, each server's resident set idle and under load, and the
# ratios (creates/s ÷ fsyncs/s, ÷ Snappass). BENCH_BASELINE names a second
# handoff binary (an older build) that runs beside this one as sqlite-base and
# postgres-base: the before/after comparison in one interleaved run.
#
# BENCH_ROUNDS=N runs the whole sequence of cells N times over (default
# 1); the summary gives each figure as the median of its rounds, and each
# p99 ratio of a filled database to an empty one also as the lowest and
# highest of the rounds' own ratios. A p99 of a few seconds on a small
# machine moves by 10-15 % from one run to the next; a ratio that is to
# tell 10 % apart needs the rounds. The resident set under load is the
# first round's.
#
# BENCH_ROWS=N adds sqlite-full and postgres-full: this build on a database
# that holds N live secrets (476 random bytes each, inserted by SQL before the
# run), for the ratio of p99 with N rows to p99 on an empty database.
#
# BENCH_PURGE=N adds sqlite-purge: this build on a file that gets N expired
# secrets (past their receipt retention too) while it runs with a purge pass
# every 2 s; creates at 32 connections for BENCH_PURGE_SECONDS (default 60)
# then run while the purge deletes them, and the run prints the longest a
# create waited and when the last expired secret was gone. Before it, the
# same creates run on sqlite-purge-off, a file with the same expired secrets
# and no purge pass during the load: the control. Both print p99.9, the
# longest wait and the number of waits over 100 ms. After the load the run
# waits for the purge to end (at most BENCH_PURGE_WAIT seconds, default 600)
# and prints how long it took from the start of the load.
#
# BENCH_MEMORY_LIMIT="MIB..." adds sqlite-capMIB for each: this build on an
# empty SQLite file inside a memory control group limited to MIB MiB, which
# counts its heap and the page cache it brings in (its code, copied into the
# group before it starts, and its database files), as a container's memory
# limit does; after the summary, what each group was charged at most and how
# often it reached its limit. It needs a memory control group the script may
# make (root, as a rule); without one the run says so and goes on.
#
# PostgreSQL: fresh databases are made through HANDOFF_BENCH_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test) and dropped afterwards;
# if that server cannot be reached the PostgreSQL runs are skipped.
# Snappass: pip installs `snappass` and `gunicorn` into target/bench-venv
# (once), and it runs under gunicorn (2 workers x 8 threads, this machine's
# cores) against a redis-server of its own with persistence off (as Snappass
# is usually run: it promises nothing across a crash). Without python3 -m venv,
# pip or redis-server, Snappass is skipped and the run says so.
#
# --files: 4 file transfers of 1 GiB at once (BENCH_TRANSFERS, BENCH_MIB) on
# SQLite and on PostgreSQL, each uploaded in 4 MiB pieces, completed,
# claimed, downloaded and finished; prints the throughput beside the loopback
# ceiling and the server's resident set idle and at its largest. Needs about
# BENCH_TRANSFERS x BENCH_MIB of free disk per database while it runs.
#
# --uploads: on SQLite, creates at BENCH_CONNS (default 32) connections for
# BENCH_SECONDS (default 10) alone, then on the same server while
# BENCH_TRANSFERS (default 2) uploads of BENCH_MIB (default 1024) MiB run, for
# as long as they take; prints creates/s, p50, p99 and the longest wait of
# both and their ratios. With BENCH_BASELINE, that binary runs the same on a
# server of its own first (before/after in one run).
set -euo pipefail

cd "$(dirname "$0")/.."
SECONDS_PER_OP="${BENCH_SECONDS:-3}"
CONNS="${BENCH_CONNS:-8 32 128}"
if [[ "${1:-}" == "--quick" ]]; then
    SECONDS_PER_OP="${BENCH_SECONDS:-1}"
    CONNS="${BENCH_CONNS:-8 32}"
fi
ADMIN_URL="${HANDOFF_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
TMP="$(mktemp -d)"
RESULTS="$TMP/results"
PIDS=()
PG_DBS=()
declare -A URL PID KIND GROUP
GROUPS_MADE=()

cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    for db in "${PG_DBS[@]}"; do
        psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    done
    for group in "${GROUPS_MADE[@]}"; do
        rmdir "$group" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_up LABEL URL: until URL answers, or the server has died.
wait_up() {
    local label="$1" url="$2"
    for _ in $(seq 1 200); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
        if ! kill -0 "${PID[$label]}" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "the $label server did not start:" >&2
    cat "$TMP/$label.log" >&2
    return 1
}

# Words put before the binary when a server starts (start_capped's way into
# a memory control group); none as a rule.
LAUNCHER=()

# start_handoff LABEL BINARY DATABASE_URL [SERVE OPTIONS...]
start_handoff() {
    local label="$1" bin="$2" db="$3" port
    port="$(free_port)"
    "${LAUNCHER[@]}" "$bin" serve --listen "127.0.0.1:$port" --database-url "$db" \
        --create-limit 0 --reveal-limit 0 "${@:4}" 2>"$TMP/$label.log" &
    PID[$label]=$!
    PIDS+=("$!")
    URL[$label]="http://127.0.0.1:$port"
    KIND[$label]=handoff
    wait_up "$label" "${URL[$label]}/healthz"
}

# memory_group NAME: makes a memory control group NAME beside this script's
# own and prints its directory; fails (printing why on stderr) where there is
# none to make: no memory controller, cgroup v2 without it delegated to
# this script's group, or no permission (it usually takes root).
memory_group() {
    local name="$1" line path mount root dir
    # mount_of FSTYPE [OPTION]: the mount point and root of the first such
    # mount (mountinfo: the fields after " - " are type, source, options).
    mount_of() {
        awk -v type="$1" -v option="${2:-}" '{
            split($0, halves, " - "); split(halves[2], after, " ")
            if (after[1] == type && (option == "" || after[3] ~ ("(^|,)" option "(,|$)"))) {
                print $5, $4; exit
            }
        }' /proc/self/mountinfo
    }
    if line="$(grep -m1 '^[0-9]*:[^:]*memory[^:]*:' /proc/self/cgroup)"; then
        # cgroup v1: a hierarchy of its own for memory.
        path="${line#*:*:}"
        read -r mount root < <(mount_of cgroup memory) || true
    elif line="$(grep -m1 '^0::' /proc/self/cgroup)"; then
        path="${line#0::}"
        read -r mount root < <(mount_of cgroup2) || true
    fi
    if [[ -z "${mount:-}" ]]; then
        echo "no memory control group hierarchy is mounted" >&2
        return 1
    fi
    # The group's path is from the hierarchy's root, which a container may
    # have mounted below it.
    [[ "$root" == / ]] || path="${path#"$root"}"
    dir="$mount${path%/}/$name"
    if ! mkdir "$dir" 2>/dev/null; then
        echo "cannot make $dir" >&2
        return 1
    fi
    if [[ ! -e "$dir/memory.max" && ! -e "$dir/memory.limit_in_bytes" ]]; then
        rmdir "$dir"
        echo "the memory controller is not enabled below ${dir%/*}" >&2
        return 1
    fi
    echo "$dir"
}

# start_capped MIB: this build on an empty SQLite file, inside a memory
# control group limited to MIB MiB (label sqlite-capMIB). The group counts
# the server's heap and the page cache it brings in: its code and its
# database files. The binary is copied from inside the group first, so the
# pages of its code are charged to it (the build's copy in the page cache is
# charged to whoever read it first, and would never count against the
# limit).
start_capped() {
    local mib="$1" label="sqlite-cap$1" group port
    if ! group="$(memory_group "handoff-bench-$$-$label")"; then
        echo "$label: skipped, no memory control group to run it in" >&2
        return 1
    fi
    GROUPS_MADE+=("$group")
    if [[ -e "$group/memory.max" ]]; then
        echo "$((mib * 1048576))" >"$group/memory.max"
        echo 0 >"$group/memory.swap.max" 2>/dev/null || true
    else
        echo "$((mib * 1048576))" >"$group/memory.limit_in_bytes"
    fi
    GROUP[$label]="$group"
    # The shell joins the group, copies the binary ($3) and becomes the copy.
    # shellcheck disable=SC2016 # expanded by the inner shell
    LAUNCHER=(bash -c 'echo $$ >"$1/cgroup.procs" && cp "$3" "$2" && exec "$2" "${@:4}"'
        _ "$group" "$TMP/handoff-$label")
    local started=0
    start_handoff "$label" "$NEW" "sqlite://$TMP/$label.db" || started=1
    LAUNCHER=()
    return "$started"
}

# An SQL expression for an id shaped like the server's (src/id.rs): the
# second it was made (40 bits) and 128 random bits, 28 characters of the
# base64url alphabet. $1 is the engine's random index 0..63, $2 the second
# (an integer expression), $3 the engine's cast to an integer.
ALPHABET='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
timestamped_id_sql() {
    local parts=() shift_by
    for shift_by in 34 28 22 16 10 4; do
        parts+=("substr('$ALPHABET', (1 + ((($2) >> $shift_by) & 63))$3, 1)")
    done
    parts+=("substr('$ALPHABET', (1 + (((($2) & 15) << 2) | (($1) & 3)))$3, 1)")
    for _ in $(seq 21); do parts+=("substr('$ALPHABET', (1 + $1)$3, 1)"); done
    local joined
    printf -v joined '%s || ' "${parts[@]}"
    echo "${joined% || }"
}
# The fills spread their secrets' creation over a day (i of N), the way a
# server that made them would have: ids and status entries of different
# seconds, new secrets' entries apart from theirs.
SQLITE_NOW="CAST(strftime('%s', 'now') AS INTEGER)"
SQLITE_MADE="$SQLITE_NOW - \$DAYS * 86400 + i * 86400 / \$N"
POSTGRES_MADE="extract(epoch FROM now())::bigint - 86400 + i::bigint * 86400 / \$N"

# fill_sqlite FILE N [DAYS]: N secrets made over a day, DAYS (default 1)
# days ago, each living a day and a half, straight into the tables (as the
# server makes them), outside any timed part; the WAL the fill wrote is
# emptied before the timed part (else its first truncation is timed).
fill_sqlite() {
    local made="${SQLITE_MADE//\$DAYS/${3:-1}}"
    made="${made//\$N/$2}"
    sqlite3 "$1" "PRAGMA busy_timeout=30000; BEGIN;
        CREATE TEMP TABLE before AS SELECT coalesce(max(seq), 0) AS seq FROM secrets;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2),
            m(i, made) AS (SELECT i, $made FROM n)
        INSERT INTO secrets (id, template, passphrase, created_at, expires_at, status_hash)
            SELECT $(timestamped_id_sql "abs(random()) % 64" made ""), 'text', 0, made, made + 129600,
                   randomblob(32) FROM m;
        INSERT INTO secret_ciphertexts (secret_seq, expires_at, ciphertext)
            SELECT seq, expires_at, randomblob(476) FROM secrets WHERE seq > (SELECT seq FROM before);
        COMMIT; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
}
# fill_expired FILE N: N secrets that expired more than eight days ago (past
# the receipts' retention), for the purge to delete.
fill_expired() {
    fill_sqlite "$1" "$2" 10
}
fill_postgres() {
    local made="${POSTGRES_MADE//\$N/$2}"
    psql -q "$1" -c "CREATE TEMP TABLE before AS SELECT coalesce(max(seq), 0) AS seq FROM secrets" \
        -c "INSERT INTO secrets (id, template, passphrase, created_at, expires_at, status_hash)
            SELECT $(timestamped_id_sql "floor(random() * 64)::int" made "::int"), 'text', false, made,
                   made + 129600, sha256(i::text::bytea)
            FROM (SELECT i, $made AS made FROM generate_series(1, $2) i) m" \
        -c "INSERT INTO secret_ciphertexts (secret_seq, expires_at, ciphertext)
            SELECT seq, expires_at, decode(repeat(md5(id), 15), 'hex') FROM secrets WHERE seq > (SELECT seq FROM before)" \
        -c "ANALYZE" -c "CHECKPOINT" >/dev/null
}

# start_postgres LABEL BINARY [ROWS]
start_postgres() {
    local db="handoff_bench_$$_${1//-/_}"
    if psql -q "$ADMIN_URL" -c "CREATE DATABASE $db" >/dev/null 2>"$TMP/psql.err"; then
        PG_DBS+=("$db")
        start_handoff "$1" "$2" "${ADMIN_URL%/*}/$db" || return 1
        if [[ -n "${3:-}" ]]; then fill_postgres "${ADMIN_URL%/*}/$db" "$3"; fi
    else
        echo "$1: skipped, cannot create a database through $ADMIN_URL ($(head -1 "$TMP/psql.err"))"
        return 1
    fi
}

start_snappass() {
    local venv=target/bench-venv redis_port port
    if ! command -v redis-server >/dev/null; then
        echo "snappass: skipped, no redis-server on PATH"
        return 1
    fi
    if [[ ! -x "$venv/bin/gunicorn" ]]; then
        if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q snappass gunicorn; } >"$TMP/pip.log" 2>&1; then
            echo "snappass: skipped, pip install snappass gunicorn failed: $(tail -1 "$TMP/pip.log")"
            return 1
        fi
    fi
    redis_port="$(free_port)"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
        >"$TMP/redis.log" 2>&1 &
    PIDS+=("$!")
    port="$(free_port)"
    REDIS_URL="redis://127.0.0.1:$redis_port/0" NO_SSL=True \
        "$venv/bin/gunicorn" --workers 2 --threads 8 --bind "127.0.0.1:$port" \
        snappass.main:app >"$TMP/snappass.log" 2>&1 &
    PID[snappass]=$!
    PIDS+=("$!")
    URL[snappass]="http://127.0.0.1:$port"
    KIND[snappass]=snappass
    wait_up snappass "${URL[snappass]}/"
}

if [[ -n "${BENCH_BIN:-}" ]]; then
    # Builds made before (BENCH_BIN: handoff; BENCH_TOOL: examples/bench).
    NEW="$BENCH_BIN"
    BENCH="${BENCH_TOOL:-target/release/examples/bench}"
else
    cargo build --release --locked --bin handoff --example bench
    BENCH=target/release/examples/bench
    NEW=target/release/handoff
fi

# The file transfer run (--files): its own servers, then exit.
files_run() {
    local transfers="${BENCH_TRANSFERS:-4}" mib="${BENCH_MIB:-1024}" label labels=()
    local extra=(--max-transfer-bytes "$(( (mib + 64) * 1024 * 1024 ))")
    start_handoff sqlite "$NEW" "sqlite://$TMP/files.db" "${extra[@]}" && labels+=(sqlite)
    local db="handoff_bench_$$_files"
    if psql -q "$ADMIN_URL" -c "CREATE DATABASE $db" >/dev/null 2>&1; then
        PG_DBS+=("$db")
        start_handoff postgres "$NEW" "${ADMIN_URL%/*}/$db" "${extra[@]}" && labels+=(postgres)
    else
        echo "postgres: skipped, cannot create a database through $ADMIN_URL"
    fi
    echo "machine: $(nproc) cores, $(uptime | sed 's/.*load/load/')"
    for label in "${labels[@]}"; do
        "$BENCH" files --server "${URL[$label]}" --label "$label" \
            --transfers "$transfers" --mib "$mib" --pid "${PID[$label]}"
        kill "${PID[$label]}" 2>/dev/null || true
    done
}

if [[ "${1:-}" == "--files" ]]; then
    files_run
    exit 0
fi

# The creates-during-uploads run (--uploads): its own servers, then exit.
uploads_run() {
    local transfers="${BENCH_TRANSFERS:-2}" mib="${BENCH_MIB:-1024}" label bin
    local extra=(--max-transfer-bytes "$(( (mib + 64) * 1024 * 1024 ))")
    local runs=()
    if [[ -n "${BENCH_BASELINE:-}" ]]; then runs+=("sqlite-base=$BENCH_BASELINE"); fi
    runs+=("sqlite=$NEW")
    echo "machine: $(nproc) cores, $(uptime | sed 's/.*load/load/')"
    for run in "${runs[@]}"; do
        label="${run%%=*}" bin="${run#*=}"
        start_handoff "$label" "$bin" "sqlite://$TMP/$label-uploads.db" "${extra[@]}"
        "$BENCH" uploads --server "${URL[$label]}" --label "$label" \
            --conns "${BENCH_CONNS:-32}" --seconds "${BENCH_SECONDS:-10}" \
            --transfers "$transfers" --mib "$mib"
        kill "${PID[$label]}" 2>/dev/null || true
        wait "${PID[$label]}" 2>/dev/null || true
        rm -f "$TMP/$label-uploads.db"*
        echo "after $label: $(uptime | sed 's/.*load/load/')"
    done
}

if [[ "${1:-}" == "--uploads" ]]; then
    uploads_run
    exit 0
fi

# wanted LABEL: whether BENCH_SERVERS (if set) names it. Servers not wanted
# are not started, so that they neither share the machine nor, for the
# filled ones, leave the fill's writes to the disk during the timed part.
wanted() {
    [[ -z "${BENCH_SERVERS:-}" || " $BENCH_SERVERS " == *" $1 "* ]]
}
LABELS=()
wanted sqlite && start_handoff sqlite "$NEW" "sqlite://$TMP/sqlite.db" && LABELS+=(sqlite)
wanted postgres && start_postgres postgres "$NEW" && LABELS+=(postgres)
if [[ -n "${BENCH_BASELINE:-}" ]]; then
    wanted sqlite-base && start_handoff sqlite-base "$BENCH_BASELINE" "sqlite://$TMP/sqlite-base.db" &&
        LABELS+=(sqlite-base)
    wanted postgres-base && start_postgres postgres-base "$BENCH_BASELINE" && LABELS+=(postgres-base)
fi
if [[ "${BENCH_ROWS:-0}" -gt 0 ]]; then
    echo "filling sqlite-full and postgres-full with $BENCH_ROWS secrets each"
    wanted sqlite-full && start_handoff sqlite-full "$NEW" "sqlite://$TMP/sqlite-full.db" &&
        fill_sqlite "$TMP/sqlite-full.db" "$BENCH_ROWS" && LABELS+=(sqlite-full)
    wanted postgres-full && start_postgres postgres-full "$NEW" "$BENCH_ROWS" && LABELS+=(postgres-full)
    # What the fills wrote reaches the disk before anything is timed.
    sync
fi
for mib in ${BENCH_MEMORY_LIMIT:-}; do
    wanted "sqlite-cap$mib" && start_capped "$mib" && LABELS+=("sqlite-cap$mib")
done
wanted snappass && start_snappass && LABELS+=(snappass)

{
    echo "machine: $(nproc) cores, $(uptime | sed 's/.*load/load/')"
    echo "$SECONDS_PER_OP s per operation; connections: $CONNS; rounds: ${BENCH_ROUNDS:-1}; servers: ${LABELS[*]}"
} | tee "$RESULTS"
"$BENCH" fsync --dir "$TMP" --seconds 2 | tee -a "$RESULTS"
for label in "${LABELS[@]}"; do
    "$BENCH" rss --pid "${PID[$label]}" --label "$label" | tee -a "$RESULTS"
done
failed=0
for ((round = 1; round <= ${BENCH_ROUNDS:-1}; round++)); do
    for conns in $CONNS; do
        for label in "${LABELS[@]}"; do
            timeout "$((SECONDS_PER_OP * 4 + 120))" "$BENCH" load --kind "${KIND[$label]}" \
                --server "${URL[$label]}" --label "$label" --conns "$conns" \
                --seconds "$SECONDS_PER_OP" --pid "${PID[$label]}" | tee -a "$RESULTS" || failed=1
        done
    done
done
if [[ "${BENCH_PURGE:-0}" -gt 0 ]]; then
    # The control: the same file and the same load, with no purge pass while
    # it runs (a server's first pass comes at its start, on the empty file;
    # the next one a day later). So the waits the purge adds are told apart
    # from those the disk and the machine make anyway.
    echo "sqlite-purge: filling two files with $BENCH_PURGE expired secrets"
    start_handoff sqlite-purge-off "$NEW" "sqlite://$TMP/sqlite-purge-off.db" --purge-interval 24h
    start_handoff sqlite-purge "$NEW" "sqlite://$TMP/sqlite-purge.db" --purge-interval 2s
    fill_expired "$TMP/sqlite-purge-off.db" "$BENCH_PURGE"
    echo "sqlite-purge-off: filled, $(du -m "$TMP/sqlite-purge-off.db" | cut -f1) MB; creates with no purge running"
    "$BENCH" load --kind handoff --ops create --server "${URL[sqlite-purge-off]}" --label sqlite-purge-off \
        --conns 32 --seconds "${BENCH_PURGE_SECONDS:-60}" --pid "${PID[sqlite-purge-off]}" | tee -a "$RESULTS" || failed=1
    kill "${PID[sqlite-purge-off]}" 2>/dev/null || true
    rm -f "$TMP"/sqlite-purge-off.db*
    fill_expired "$TMP/sqlite-purge.db" "$BENCH_PURGE"
    echo "sqlite-purge: filled, $(du -m "$TMP/sqlite-purge.db" | cut -f1) MB; creates while the purge runs"
    started=$(date +%s.%N)
    # The moment no expired secret is left (a reader beside the writer: WAL).
    # An index probe, not a count: counting a million rows every half second
    # took much of a core of this 2-core machine and held a snapshot long
    # enough to keep the WAL from starting over.
    (
        while [[ "$(sqlite3 "$TMP/sqlite-purge.db" "PRAGMA busy_timeout=5000; SELECT COUNT(*) FROM (SELECT 1 FROM secrets WHERE expires_at < strftime('%s', 'now') - 7 * 86400 LIMIT 1)" 2>/dev/null | tail -1)" != 0 ]]; do
            sleep 0.5
        done
        printf '@purge\tsqlite-purge\t%s\t%s\t%s\n' "$BENCH_PURGE" "${BENCH_PURGE_SECONDS:-60}" \
            "$(echo "$(date +%s.%N) - $started" | bc)" >"$TMP/purge-done"
    ) &
    probe=$!
    PIDS+=("$probe")
    "$BENCH" load --kind handoff --ops create --server "${URL[sqlite-purge]}" --label sqlite-purge \
        --conns 32 --seconds "${BENCH_PURGE_SECONDS:-60}" --pid "${PID[sqlite-purge]}" | tee -a "$RESULTS" || failed=1
    # The purge goes on after the load if it has not finished: wait for the
    # probe to see its end (at most BENCH_PURGE_WAIT seconds more, default
    # 600; not at all if the load failed), so the run says how long a purge
    # of that many secrets takes.
    for ((i = 0; failed == 0 && i < ${BENCH_PURGE_WAIT:-600} * 2; i++)); do
        kill -0 "$probe" 2>/dev/null || break
        sleep 0.5
    done
    if [[ -s "$TMP/purge-done" ]]; then
        tee -a "$RESULTS" <"$TMP/purge-done"
    else
        printf '@purge\tsqlite-purge\t%s\t%s\n' "$BENCH_PURGE" "${BENCH_PURGE_SECONDS:-60}" | tee -a "$RESULTS"
    fi
fi
echo "after the run: $(uptime | sed 's/.*load/load/')" | tee -a "$RESULTS"
echo
sed -n '1,3p' "$RESULTS"
"$BENCH" summary "$RESULTS"
for label in "${LABELS[@]}"; do
    group="${GROUP[$label]:-}"
    [[ -n "$group" ]] || continue
    # What the group was charged at most (cgroup v2 memory.peak, v1
    # memory.max_usage_in_bytes) and how often it hit its limit.
    peak="$(cat "$group/memory.peak" 2>/dev/null || cat "$group/memory.max_usage_in_bytes")"
    if [[ -e "$group/memory.events" ]]; then
        hits="$(awk '$1 == "max" {print $2}' "$group/memory.events")"
    else
        hits="$(cat "$group/memory.failcnt")"
    fi
    echo "$label: charged at most $((peak / 1048576)) MiB of its ${label#sqlite-cap} MiB limit; reached the limit $hits times"
done
exit "$failed"
