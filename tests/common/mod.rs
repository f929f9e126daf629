//! One way to get a running app for a test: `spawn_app(Backend::X)` gives a
//! server on a free loopback port over a database of its own (a temp SQLite
//! file, or a fresh PostgreSQL database dropped afterwards), a manual clock,
//! and one method per user action.
#![allow(dead_code)]

pub mod api_host;
pub mod collector_host;
pub mod flow;

use std::net::SocketAddr;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use handoff::clock::Clock;
use handoff::config::Settings;
use handoff::link::{self, Key};
use handoff::payload::Payload;
use handoff::server::Server;
use handoff::store::Store;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// 2026-11-22T00:00:00Z: tests run at a fixed time.
pub const T0: i64 = 1_795_305_600;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each named `async fn(TestApp)`.
/// `crate` here is the test binary that calls it, which is what is meant.
#[macro_export]
#[allow(clippy::crate_in_macro_def)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::spawn_app(crate::common::Backend::Sqlite).await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::spawn_app(crate::common::Backend::Postgres).await).await
                }
            )*
        }
    };
}

/// Like [`on_both_backends!`], for tests that set their app up themselves:
/// each named `async fn(Backend)` runs once per backend.
#[macro_export]
#[allow(clippy::crate_in_macro_def)]
macro_rules! with_each_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::common::Backend::Postgres).await
                }
            )*
        }
    };
}

/// One request as a stand-in of another service received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Header names lowercase.
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
}

impl Received {
    pub fn new(
        method: &axum::http::Method,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> Received {
        Received {
            method: method.to_string(),
            uri: uri.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
        }
    }
}

/// Serves `app` (a stand-in of another service) on a free loopback port
/// until the returned sender is dropped; returns the port's address.
pub async fn serve_on_loopback(app: axum::Router) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (addr, stop)
}

/// The server every PostgreSQL test creates its own database in.
pub fn postgres_admin_url() -> String {
    std::env::var("HANDOFF_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database that exists for one test.
pub enum TestDb {
    Sqlite { dir: tempfile::TempDir, url: String },
    Postgres { name: String, url: String },
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("handoff.db").display());
                TestDb::Sqlite { dir, url }
            }
            Backend::Postgres => {
                use sqlx::Connection;
                let admin = postgres_admin_url();
                let name = format!(
                    "handoff_test_{}",
                    handoff::id::Id::random()
                        .as_str()
                        .to_lowercase()
                        .replace(['-', '_'], "x")
                );
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL is needed at {admin} (set HANDOFF_TEST_POSTGRES_URL, or run .ci/run): {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let (base, _) = admin.rsplit_once('/').unwrap();
                TestDb::Postgres {
                    url: format!("{base}/{name}"),
                    name,
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    /// The SQLite file (its `-wal` sits beside it); `None` on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self {
            TestDb::Sqlite { dir, .. } => Some(dir.path().join("handoff.db")),
            TestDb::Postgres { .. } => None,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            let name = name.clone();
            // Drop runs inside the test's runtime; a fresh thread may block.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub http: reqwest::Client,
    pub store: Store,
    pub clock: Clock,
    pub db: TestDb,
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, handoff::config::Settings::without_rate_limits).await
}

/// Like [`spawn_app`], with settings adjusted by `configure` (which receives
/// the defaults, rate limits included, but no purge task: on a manual clock
/// a timed pass could land between a test's steps, so tests purge when they
/// choose, with `purge::purge_once`, unless they set `purge_interval`).
pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(Settings) -> Settings,
) -> TestApp {
    spawn_app_on(TestDb::new(backend).await, configure).await
}

/// Like [`spawn_app_with`], on a database the test has prepared. The app
/// starts as `handoff serve` starts it ([`Server`]), on a manual clock.
pub async fn spawn_app_on(db: TestDb, configure: impl FnOnce(Settings) -> Settings) -> TestApp {
    let backend = match db {
        TestDb::Sqlite { .. } => Backend::Sqlite,
        TestDb::Postgres { .. } => Backend::Postgres,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let settings = configure(Settings {
        purge_interval: None,
        ..Settings::new(&base).unwrap()
    });
    let clock = Clock::manual(T0);
    let server = Server::open(db.url(), settings, clock.clone())
        .await
        .unwrap();
    let store = server.store().clone();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(server.serve(listener, async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        addr,
        base,
        http,
        store,
        clock,
        db,
        backend,
        shutdown: Some(tx),
    }
}

/// A secret created through the API, with what only its creator knows.
pub struct Made {
    pub id: String,
    pub url: String,
    pub status_url: String,
    pub key: Key,
    pub plaintext: Vec<u8>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Declares a transfer of one file of one piece (`piece` bytes of
    /// ciphertext) with this manifest ciphertext, for an hour: the create
    /// answer (`id`, `upload_token`, `url`, …).
    pub async fn declare_one_piece(&self, manifest: &[u8], piece: usize) -> Value {
        use base64::Engine;
        let res = self
            .post_json(
                "/api/v1/transfers",
                &serde_json::json!({
                    "manifest": base64::engine::general_purpose::STANDARD.encode(manifest),
                    "files": [{"pieces": 1, "size": piece}],
                    "expires_in": 3600,
                }),
            )
            .await;
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn head(&self, path: &str) -> reqwest::Response {
        self.http.head(self.url(path)).send().await.unwrap()
    }

    /// Seals `text` as a text payload and uploads it, as a client would.
    pub async fn create_text(&self, text: &str) -> Made {
        self.create(&Payload::text(text), 3_600, None).await
    }

    pub async fn create(
        &self,
        payload: &Payload,
        expires_in: i64,
        passphrase: Option<&str>,
    ) -> Made {
        let plaintext = serde_json::to_vec(payload).unwrap();
        let pass = passphrase.map(|p| age::secrecy::SecretString::from(p.to_owned()));
        let (ciphertext, key) = link::seal(&plaintext, pass.as_ref()).unwrap();
        let res = self
            .post_json(
                "/api/v1/secrets",
                &json!({
                    "ciphertext": STANDARD.encode(&ciphertext),
                    "expires_in": expires_in,
                    "passphrase": passphrase.is_some(),
                    "template": payload.template,
                }),
            )
            .await;
        assert_eq!(
            res.status(),
            201,
            "create failed: {}",
            res.text().await.unwrap()
        );
        let body: Value = res.json().await.unwrap();
        Made {
            id: body["id"].as_str().unwrap().to_owned(),
            url: body["url"].as_str().unwrap().to_owned(),
            status_url: body["status_url"].as_str().unwrap().to_owned(),
            key,
            plaintext,
        }
    }

    pub async fn reveal(&self, id: &str) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/api/v1/secrets/{id}/reveal")))
            .send()
            .await
            .unwrap()
    }

    /// The creator's status, as the API reports it.
    pub async fn status(&self, made: &Made) -> Value {
        self.get(&format!("/api/v1{}", self.status_path(made)))
            .await
            .json()
            .await
            .unwrap()
    }

    /// The status page's path, from a status URL.
    pub fn status_path(&self, made: &Made) -> String {
        made.status_url.strip_prefix(&self.base).unwrap().to_owned()
    }
}

/// A valid age file (encrypted to a throwaway recipient), base64-encoded.
pub fn some_ciphertext(plaintext_len: usize) -> String {
    let identity = age::x25519::Identity::generate();
    STANDARD.encode(age::encrypt(&identity.to_public(), &vec![b'x'; plaintext_len]).unwrap())
}

/// Asserts a JSON error answer with this status and code.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(res.status(), status, "expected {status} {code}");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "error bodies are JSON"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], code, "body: {body}");
    let message = body["message"].as_str().unwrap().to_owned();
    assert!(message.len() > 10, "the message is a sentence: {message:?}");
    message
}

/// Rows in the `secrets` table, read directly.
pub async fn count_secrets(store: &Store) -> i64 {
    const SQL: &str = "SELECT COUNT(*) FROM secrets";
    match store {
        Store::Sqlite(handoff::store::Sqlite { pool: p, .. }) => {
            sqlx::query_scalar(SQL).fetch_one(p).await.unwrap()
        }
        Store::Postgres(p) => sqlx::query_scalar(SQL).fetch_one(p).await.unwrap(),
    }
}

/// A connection of its own to a SQLite store's file that may write (the
/// store's pooled connections are read-only, `query_only`; its changes go
/// through its writer): what a test that tampers with the database uses.
pub async fn writable(pool: &sqlx::SqlitePool) -> sqlx::SqliteConnection {
    let mut conn = pool.acquire().await.unwrap().detach();
    sqlx::query("PRAGMA query_only = OFF")
        .execute(&mut conn)
        .await
        .unwrap();
    conn
}

/// The real `handoff` binary serving on a free loopback port, its output
/// captured in a log file: for crashes, several instances, and log checks.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub base: String,
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts `handoff serve` on `database_url` with no rate limits and debug
    /// logging, and waits until `/healthz` answers.
    pub async fn start(database_url: &str, log_dir: &std::path::Path) -> ServerProcess {
        ServerProcess::start_with(database_url, log_dir, &[], &[]).await
    }

    /// Like [`ServerProcess::start`], with more `serve` flags and environment
    /// (which may set another `RUST_LOG`).
    pub async fn start_with(
        database_url: &str,
        log_dir: &std::path::Path,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = log_dir.join(format!("server-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                database_url,
            ])
            .args(["--create-limit", "0", "--reveal-limit", "0"])
            .args(args)
            // The machine's own configuration must not leak into a test server.
            .env_remove("HANDOFF_PUBLIC_URL")
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "debug")
            .envs(envs.iter().copied())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let server = ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let mut server = server;
        for _ in 0..400 {
            if let Ok(r) = reqwest::get(format!("{}/healthz", server.base)).await
                && r.status() == 200
            {
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!(
                    "handoff serve exited ({status}) before answering: {}",
                    std::fs::read_to_string(&server.log).unwrap_or_default()
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "handoff did not start: {}",
            std::fs::read_to_string(&server.log).unwrap_or_default()
        );
    }

    /// SIGKILL: no shutdown code runs, as in a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---- Staff sign-in helpers ----

/// A password long enough for a staff account.
pub const STAFF_PASSWORD: &str = "correct horse battery staple";

/// A signed-in staff browser, as a test holds it.
#[derive(Clone, Debug)]
pub struct Session {
    /// The `Cookie` header value: `handoff_session=...` (or `__Host-...`).
    pub cookie: String,
    /// The session's CSRF token, as staff forms carry it.
    pub csrf: String,
}

/// The value of `<input ... name="NAME" value="VALUE">` in a page.
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// The `Set-Cookie` header that sets cookie `name` (matched by suffix, so
/// `handoff_session` finds `__Host-handoff_session` too), whole.
pub fn set_cookie_header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| {
            v.split_once('=')
                .is_some_and(|(n, _)| n == name || n.ends_with(&format!("-{name}")))
        })
        .map(str::to_owned)
}

impl TestApp {
    /// Adds a staff account straight through the store: fast, no CLI.
    pub async fn add_user(&self, name: &str, password: &str) -> handoff::store::User {
        let name = handoff::staff::UserName::parse(name).unwrap();
        let hash = handoff::staff::hash_password(password).unwrap();
        self.store
            .add_user(&name, &hash, self.clock.now())
            .await
            .unwrap()
            .unwrap()
    }

    /// `GET /login`: the form cookie (`name=value`, for a `Cookie` header)
    /// and the CSRF token in the form.
    pub async fn login_form(&self) -> (String, String) {
        let res = self.get("/login").await;
        assert_eq!(res.status(), 200, "the login page is there");
        let cookie = set_cookie_header(&res, "handoff_login").expect("a login form cookie");
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let csrf = hidden_input(&res.text().await.unwrap(), "csrf").unwrap();
        (cookie, csrf)
    }

    /// `POST /login` with these form fields and `Cookie` header; redirects are not followed.
    pub async fn post_login(
        &self,
        cookie: Option<&str>,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.http.post(self.url("/login")).form(fields);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    /// Signs in through the login form and reads the session's CSRF token
    /// from `/staff/account`.
    pub async fn login(&self, name: &str, password: &str) -> Session {
        let (form_cookie, csrf) = self.login_form().await;
        let res = self
            .post_login(
                Some(&form_cookie),
                &[
                    ("name", name),
                    ("password", password),
                    ("csrf", &csrf),
                    ("next", "/staff/account"),
                ],
            )
            .await;
        assert_eq!(res.status(), 303, "login as {name} failed");
        assert_eq!(res.headers()["location"], "/staff/account");
        let cookie = set_cookie_header(&res, "handoff_session").expect("a session cookie");
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let page = self.get_as(&cookie, "/staff/account").await;
        assert_eq!(page.status(), 200);
        let csrf = hidden_input(&page.text().await.unwrap(), "csrf").unwrap();
        Session { cookie, csrf }
    }

    /// Adds `name` with [`STAFF_PASSWORD`] and signs in.
    pub async fn staff(&self, name: &str) -> Session {
        self.add_user(name, STAFF_PASSWORD).await;
        self.login(name, STAFF_PASSWORD).await
    }

    /// GET with a `Cookie` header (a [`Session::cookie`]).
    pub async fn get_as(&self, cookie: &str, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    /// POST a form with a `Cookie` header (a [`Session::cookie`]).
    /// A form post with no session, as a customer's or a sender's browser
    /// sends it.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    pub async fn post_form_as(
        &self,
        cookie: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .header("cookie", cookie)
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

/// A stand-in's state, shared by its handlers and the test that drives it.
pub type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

/// Locks a stand-in's state; a handler that panicked leaves it usable.
pub fn lock<T>(shared: &Shared<T>) -> std::sync::MutexGuard<'_, T> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
