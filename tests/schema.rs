//! The two migration folders describe one schema: after both have run, the
//! tables, columns, keys, indexes, foreign keys and seeded rows read from each
//! database's own catalogue are the same, up to the two engines' names for
//! one type. A column, index or constraint added to one folder only fails here.
//! (The append-only triggers differ by design, one per engine's events; their
//! behaviour is tested in `requests.rs` and `cli.rs`.)

mod common;

use std::collections::BTreeSet;

use common::{Backend, TestDb};
use handoff::store::Store;
use sqlx::Row;

/// One fact about the schema, written the same way for both engines.
type Facts = BTreeSet<String>;

/// The engines' names for one kind of value. SQLite has no boolean type: a
/// PostgreSQL `BOOLEAN` is an `INTEGER` (0 or 1) there, which sqlx reads as
/// `bool` on both.
fn type_family(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" | "int8" | "int4" | "smallint" | "boolean" | "bool" => "integer",
        "text" | "character varying" | "varchar" => "text",
        "blob" | "bytea" => "blob",
        other => panic!("a column type this test does not know: {other}"),
    }
}

fn on_delete(rule: &str) -> &'static str {
    match rule {
        "CASCADE" | "c" => "cascade",
        "SET NULL" | "n" => "set null",
        "RESTRICT" | "r" => "restrict",
        "SET DEFAULT" | "d" => "set default",
        "NO ACTION" | "a" => "no action",
        other => panic!("an ON DELETE rule this test does not know: {other}"),
    }
}

/// A column's default as both engines print a number or a string literal
/// (PostgreSQL adds a cast: `'x'::text`).
fn default_clause(default: Option<&str>) -> String {
    match default {
        None => String::new(),
        Some(d) => format!(" default {}", d.split("::").next().unwrap_or(d)),
    }
}

/// A partial index's predicate with the engine's spelling taken out:
/// PostgreSQL writes `WHERE ((delivered_at IS NULL) AND (failed_at IS NULL))`.
fn predicate(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '(' | ')'))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase()
}

fn column_fact(
    table: &str,
    name: &str,
    position: i64,
    declared: &str,
    null: &str,
    default: Option<String>,
) -> String {
    format!(
        "column {table}.{name} #{position} {} {null}{}",
        type_family(declared),
        default_clause(default.as_deref())
    )
}

/// An index by its name (`-` for one a UNIQUE constraint made: the engines
/// name those differently), its columns, and a partial index's predicate.
fn index_fact(
    label: &str,
    table: &str,
    columns: &[String],
    unique: bool,
    condition: Option<String>,
) -> String {
    let mut fact = format!(
        "index {label} on {table} ({}){}",
        columns.join(", "),
        if unique { " unique" } else { "" }
    );
    if let Some(condition) = condition {
        fact.push_str(&format!(" where {}", predicate(&condition)));
    }
    fact
}

fn foreign_key_fact(table: &str, from: &str, to_table: &str, to: &str, rule: &str) -> String {
    format!(
        "foreign key {table}.{from} -> {to_table}.{to} on delete {}",
        on_delete(rule)
    )
}

async fn sqlite_facts(pool: &sqlx::SqlitePool) -> Facts {
    let mut facts = Facts::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for table in &tables {
        facts.insert(format!("table {table}"));
        let columns = sqlx::query(
            "SELECT cid, name, type, \"notnull\", pk, dflt_value FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        let mut key = Vec::new();
        for c in &columns {
            let position: i64 = c.get("cid");
            let name: String = c.get("name");
            let declared: String = c.get("type");
            let not_null: i64 = c.get("notnull");
            let pk: i64 = c.get("pk");
            let default: Option<String> = c.get("dflt_value");
            // A primary-key column is NOT NULL whether or not it says so
            // (handoff never inserts NULL into one).
            let null = if not_null == 1 || pk > 0 {
                "not null"
            } else {
                "null"
            };
            facts.insert(column_fact(
                table,
                &name,
                position + 1,
                &declared,
                null,
                default,
            ));
            if pk > 0 {
                key.push((pk, name));
            }
        }
        key.sort();
        let key: Vec<_> = key.into_iter().map(|(_, n)| n).collect();
        facts.insert(format!("primary key {table} ({})", key.join(", ")));

        let indexes = sqlx::query(
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?) ORDER BY name",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        for i in &indexes {
            let name: String = i.get("name");
            let unique: i64 = i.get("unique");
            let origin: String = i.get("origin");
            let partial: i64 = i.get("partial");
            if origin == "pk" {
                continue;
            }
            let columns: Vec<String> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&name)
                    .fetch_all(pool)
                    .await
                    .unwrap();
            let label = if origin == "c" { name.as_str() } else { "-" };
            let mut condition = None;
            if partial == 1 {
                let sql: String = sqlx::query_scalar(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?",
                )
                .bind(&name)
                .fetch_one(pool)
                .await
                .unwrap();
                condition = Some(sql.split_once(" WHERE ").unwrap().1.to_owned());
            }
            facts.insert(index_fact(label, table, &columns, unique == 1, condition));
        }

        let keys = sqlx::query(
            "SELECT \"from\", \"table\", \"to\", on_delete FROM pragma_foreign_key_list(?)",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        for k in &keys {
            let from: String = k.get("from");
            let to_table: String = k.get("table");
            let to: String = k.get("to");
            let rule: String = k.get("on_delete");
            facts.insert(foreign_key_fact(table, &from, &to_table, &to, &rule));
        }
    }
    facts
}

async fn postgres_facts(pool: &sqlx::PgPool) -> Facts {
    let mut facts = Facts::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' \
         AND table_name NOT LIKE '\\_sqlx%' ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for table in &tables {
        facts.insert(format!("table {table}"));
        let columns = sqlx::query(
            "SELECT column_name::text AS name, data_type::text AS type, \
                    is_nullable::text AS nullable, ordinal_position::bigint AS position, \
                    column_default::text AS default_value \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        for c in &columns {
            let name: String = c.get("name");
            let declared: String = c.get("type");
            let nullable: String = c.get("nullable");
            let position: i64 = c.get("position");
            let default: Option<String> = c.get("default_value");
            let null = if nullable == "YES" {
                "null"
            } else {
                "not null"
            };
            facts.insert(column_fact(
                table, &name, position, &declared, null, default,
            ));
        }

        // Every index, with the constraint (if any) that made it.
        let indexes = sqlx::query(
            "SELECT ic.relname::text AS name, ix.indisunique AS is_unique, \
                    ix.indisprimary AS is_primary, \
                    EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid) \
                        AS from_constraint, \
                    pg_get_expr(ix.indpred, ix.indrelid) AS predicate, \
                    ARRAY(SELECT a.attname::text \
                          FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(attnum, n) \
                          JOIN pg_attribute a \
                            ON a.attrelid = ix.indrelid AND a.attnum = k.attnum \
                          ORDER BY k.n) AS columns \
             FROM pg_index ix \
             JOIN pg_class ic ON ic.oid = ix.indexrelid \
             JOIN pg_class tc ON tc.oid = ix.indrelid \
             JOIN pg_namespace ns ON ns.oid = tc.relnamespace \
             WHERE ns.nspname = 'public' AND tc.relname = $1",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        for i in &indexes {
            let name: String = i.get("name");
            let unique: bool = i.get("is_unique");
            let primary: bool = i.get("is_primary");
            let from_constraint: bool = i.get("from_constraint");
            let condition: Option<String> = i.get("predicate");
            let columns: Vec<String> = i.get("columns");
            if primary {
                facts.insert(format!("primary key {table} ({})", columns.join(", ")));
                continue;
            }
            let label = if from_constraint { "-" } else { name.as_str() };
            facts.insert(index_fact(label, table, &columns, unique, condition));
        }

        let keys = sqlx::query(
            "SELECT a.attname::text AS from_column, rt.relname::text AS to_table, \
                    ra.attname::text AS to_column, c.confdeltype::text AS rule \
             FROM pg_constraint c \
             JOIN pg_class t ON t.oid = c.conrelid \
             JOIN pg_namespace ns ON ns.oid = t.relnamespace \
             JOIN pg_class rt ON rt.oid = c.confrelid \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] \
             WHERE c.contype = 'f' AND ns.nspname = 'public' AND t.relname = $1",
        )
        .bind(table)
        .fetch_all(pool)
        .await
        .unwrap();
        for k in &keys {
            let from: String = k.get("from_column");
            let to_table: String = k.get("to_table");
            let to: String = k.get("to_column");
            let rule: String = k.get("rule");
            facts.insert(foreign_key_fact(table, &from, &to_table, &to, &rule));
        }
    }
    facts
}

/// The rows migrations seed (the audit chain's head, the webhook and e-mail cursors).
async fn seeded_rows(store: &Store) -> Facts {
    let queries = [
        "SELECT 'audit_head ' || CAST(id AS TEXT) || ' ' || CAST(seq AS TEXT) || ' ' || hash FROM audit_head",
        "SELECT 'webhook_cursor ' || CAST(id AS TEXT) || ' ' || CAST(seq AS TEXT) FROM webhook_cursor",
        "SELECT 'email_cursor ' || CAST(id AS TEXT) || ' ' || CAST(seq AS TEXT) FROM email_cursor",
    ];
    let mut facts = Facts::new();
    for q in queries {
        let rows: Vec<String> = match store {
            Store::Sqlite(handoff::store::Sqlite { pool: p, .. }) => {
                sqlx::query_scalar(q).fetch_all(p).await.unwrap()
            }
            Store::Postgres(p) => sqlx::query_scalar(q).fetch_all(p).await.unwrap(),
        };
        facts.extend(rows);
    }
    facts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_folders_make_the_same_schema() {
    let sqlite_db = TestDb::new(Backend::Sqlite).await;
    let postgres_db = TestDb::new(Backend::Postgres).await;
    let sqlite = Store::connect(sqlite_db.url()).await.unwrap();
    let postgres = Store::connect(postgres_db.url()).await.unwrap();

    let (
        Store::Sqlite(handoff::store::Sqlite {
            pool: sqlite_pool, ..
        }),
        Store::Postgres(postgres_pool),
    ) = (&sqlite, &postgres)
    else {
        panic!("the test databases are one of each engine");
    };
    let mut on_sqlite = sqlite_facts(sqlite_pool).await;
    let mut on_postgres = postgres_facts(postgres_pool).await;
    on_sqlite.extend(seeded_rows(&sqlite).await);
    on_postgres.extend(seeded_rows(&postgres).await);

    // The test reads something: every table has a key, and the known
    // partial index is seen on both.
    assert!(on_sqlite.iter().any(|f| f.starts_with("table requests")));
    assert!(
        on_sqlite.iter().any(|f| f.contains(" where ")),
        "{on_sqlite:#?}"
    );
    assert!(on_sqlite.iter().any(|f| f.starts_with("foreign key ")));

    let only_sqlite: Vec<_> = on_sqlite.difference(&on_postgres).collect();
    let only_postgres: Vec<_> = on_postgres.difference(&on_sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the migration folders disagree.\nonly in migrations/sqlite: {only_sqlite:#?}\nonly in migrations/postgres: {only_postgres:#?}"
    );
    sqlite.close().await;
    postgres.close().await;
}

/// Runs the migrations of `backend`'s folder up to `version`, as an older
/// release left its database.
async fn migrate_to(db: &TestDb, backend: Backend, version: i64) {
    let folder = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let migrator = sqlx::migrate::Migrator::new(std::path::Path::new(folder))
        .await
        .unwrap();
    match backend {
        Backend::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(db.sqlite_path().unwrap())
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            migrator.run_to(version, &pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
            migrator.run_to(version, &pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// Runs `sql` (with `$1`… bound to `binds`, text or bytes) on `db`.
async fn execute(db: &TestDb, backend: Backend, sql: &str, binds: &[Bind<'_>]) {
    macro_rules! bound {
        ($q:expr) => {{
            let mut q = $q;
            for b in binds {
                q = match b {
                    Bind::Text(t) => q.bind(t.to_string()),
                    Bind::Int(i) => q.bind(*i),
                    Bind::Bytes(b) => q.bind(b.to_vec()),
                };
            }
            q
        }};
    }
    match backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(db.url()).await.unwrap();
            bound!(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(db.url()).await.unwrap();
            bound!(sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
    }
}

/// A secret as a release before migration 11 kept it.
struct OldSecret {
    id: handoff::id::Id,
    status: handoff::id::Id,
    ciphertext: Vec<u8>,
    expires_at: i64,
    read_at: Option<i64>,
    destroyed_at: Option<i64>,
    /// Destroyed through its status token after the migrations, instead of
    /// revealed.
    destroy_by_status: bool,
}

enum Bind<'a> {
    Text(&'a str),
    Int(i64),
    Bytes(&'a [u8]),
}

/// Secrets kept by a release before migration 11 (their ciphertexts keyed
/// by the secret's id) come through it as they were: an unread one still
/// reveals its very bytes, once; a read one, a destroyed one and an expired
/// one keep their receipts and give nothing; an unread one is destroyed by
/// its (random) status token; a new secret made afterwards works beside
/// them, its timestamped status token included (migration 12).
async fn secrets_kept_before_the_creation_order_key_come_through(backend: Backend) {
    use base64::{Engine, engine::general_purpose::STANDARD};
    use common::T0;
    use handoff::id::Id;
    let db = TestDb::new(backend).await;
    migrate_to(&db, backend, 10).await;
    let false_ = match backend {
        Backend::Sqlite => "0",
        Backend::Postgres => "false",
    };
    let old =
        |fill: u8, len: usize, expires_at: i64, read_at: Option<i64>, destroyed_at: Option<i64>| {
            OldSecret {
                id: Id::random(),
                status: Id::random(),
                ciphertext: vec![fill; len],
                expires_at,
                read_at,
                destroyed_at,
                destroy_by_status: false,
            }
        };
    let rows = [
        old(1, 600, T0 + 3_600, None, None),
        old(2, 600, T0 + 3_600, Some(T0 - 10), None),
        old(3, 600, T0 + 3_600, None, Some(T0 - 20)),
        old(4, 600, T0 - 1, None, None),
        old(5, 70_000, T0 + 7_200, None, None),
        OldSecret {
            destroy_by_status: true,
            ..old(6, 600, T0 + 3_600, None, None)
        },
    ];
    for s in &rows {
        execute(
            &db,
            backend,
            &format!(
                "INSERT INTO secrets (id, template, passphrase, created_at, expires_at, status_hash, read_at, destroyed_at) \
                 VALUES ($1, 'text', {false_}, $2, $3, $4, {}, {})",
                s.read_at.map_or("NULL".to_owned(), |t| t.to_string()),
                s.destroyed_at.map_or("NULL".to_owned(), |t| t.to_string()),
            ),
            &[
                Bind::Text(s.id.as_str()),
                Bind::Int(T0 - 100),
                Bind::Int(s.expires_at),
                Bind::Bytes(&s.status.digest()),
            ],
        )
        .await;
        if s.read_at.is_none() && s.destroyed_at.is_none() {
            execute(
                &db,
                backend,
                "INSERT INTO secret_ciphertexts (secret_id, expires_at, ciphertext) VALUES ($1, $2, $3)",
                &[
                    Bind::Text(s.id.as_str()),
                    Bind::Int(s.expires_at),
                    Bind::Bytes(&s.ciphertext),
                ],
            )
            .await;
        }
    }

    let app = common::spawn_app_on(db, handoff::config::Settings::without_rate_limits).await;
    let state = |status: &Id| {
        let (app, path) = (&app, format!("/api/v1/status/{}", status.as_str()));
        async move {
            let got: serde_json::Value = app.get(&path).await.json().await.unwrap();
            got["state"].as_str().unwrap().to_owned()
        }
    };
    for OldSecret {
        id,
        status,
        ciphertext,
        expires_at,
        read_at,
        destroyed_at,
        destroy_by_status,
    } in &rows
    {
        let meta = app
            .get(&format!("/api/v1/secrets/{}", id.as_str()))
            .await
            .status()
            .as_u16();
        let live = *expires_at > T0 && read_at.is_none() && destroyed_at.is_none();
        assert_eq!(meta, if live { 200 } else { 404 }, "{ciphertext:?}");
        if *destroy_by_status {
            let path = format!("/api/v1/status/{}/destroy", status.as_str());
            assert_eq!(
                app.post_json(&path, &serde_json::json!({}))
                    .await
                    .status()
                    .as_u16(),
                200
            );
            assert_eq!(state(status).await, "destroyed");
            assert_eq!(app.reveal(id.as_str()).await.status().as_u16(), 404);
            continue;
        }
        let revealed = app.reveal(id.as_str()).await;
        if live {
            assert_eq!(revealed.status().as_u16(), 200);
            let body: serde_json::Value = revealed.json().await.unwrap();
            let got = STANDARD
                .decode(body["ciphertext"].as_str().unwrap())
                .unwrap();
            assert!(got == *ciphertext, "the very bytes come back");
            assert_eq!(app.reveal(id.as_str()).await.status().as_u16(), 404, "once");
            assert_eq!(state(status).await, "read");
        } else {
            assert_eq!(revealed.status().as_u16(), 404);
            let expected = if read_at.is_some() {
                "read"
            } else if destroyed_at.is_some() {
                "destroyed"
            } else {
                "expired"
            };
            assert_eq!(state(status).await, expected);
        }
    }
    let made = app.create_text("made after the migration").await;
    assert_eq!(made.id.len(), handoff::id::TIMESTAMPED_LEN);
    let revealed = app.reveal(&made.id).await;
    assert_eq!(revealed.status().as_u16(), 200);
    let status = made.status_url.rsplit_once("/status/").unwrap().1;
    assert_eq!(status.len(), handoff::id::TIMESTAMPED_LEN);
    assert_eq!(app.status(&made).await["state"], "read");
}

with_each_backend!(secrets_kept_before_the_creation_order_key_come_through);
