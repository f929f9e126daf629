//! File transfers through the API, as a sender and a recipient use them:
//! pieces encrypted here with the `age` crate, uploaded, resumed, completed,
//! claimed exactly once, downloaded during the grace, finished, purged; and
//! what the server refuses. Every store behaviour on both engines.

mod common;

use std::io::Write;

use age::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Backend, ServerProcess, TestApp, TestDb, assert_error, spawn_app_with};
use handoff::transfer::{
    MANIFEST_VERSION, Manifest, ManifestFile, PIECE_CIPHERTEXT_MAX, PIECE_SIZE, piece_identity,
    pieces_for,
};
use serde_json::{Value, json};

/// A sender's view of the API at `base`.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn of(app: &TestApp) -> Api {
        Api {
            http: app.http.clone(),
            base: app.base.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn create(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url("/api/v1/transfers"))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn put(
        &self,
        id: &str,
        token: Option<&str>,
        f: impl std::fmt::Display,
        p: impl std::fmt::Display,
        bytes: Vec<u8>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .put(self.url(&format!("/api/v1/transfers/{id}/files/{f}/pieces/{p}")))
            .header("content-type", "application/octet-stream")
            .body(bytes);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn get_piece(&self, id: &str, token: &str, f: usize, p: usize) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/api/v1/transfers/{id}/files/{f}/pieces/{p}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.post(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn complete(&self, id: &str, token: &str) -> reqwest::Response {
        self.post(&format!("/api/v1/transfers/{id}/complete"), Some(token))
            .await
    }

    async fn claim(&self, id: &str) -> reqwest::Response {
        self.post(&format!("/api/v1/transfers/{id}/claim"), None)
            .await
    }
}

fn encrypt(to: &age::x25519::Recipient, plaintext: &[u8]) -> Vec<u8> {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient)).unwrap();
    let mut out = vec![];
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(plaintext).unwrap();
    w.finish().unwrap();
    out
}

fn decrypt(identity: &age::x25519::Identity, ciphertext: &[u8]) -> Vec<u8> {
    age::decrypt(identity, ciphertext).unwrap()
}

/// A file cut into pieces and encrypted, as a sender holds it.
struct Prepared {
    name: String,
    plaintext: Vec<u8>,
    pieces: Vec<Vec<u8>>,
}

impl Prepared {
    fn size(&self) -> usize {
        self.pieces.iter().map(Vec::len).sum()
    }
}

/// A transfer declared on the server, with what only its sender knows.
struct Sent {
    id: String,
    upload_token: String,
    identity: age::x25519::Identity,
    files: Vec<Prepared>,
    message: String,
}

/// The recipient of piece `p` of file `f`, as the protocol derives it.
fn piece_recipient(identity: &age::x25519::Identity, f: usize, p: usize) -> age::x25519::Recipient {
    piece_identity(identity, f as u32, p as u32)
        .unwrap()
        .to_public()
}

fn prepare(identity: &age::x25519::Identity, f: usize, name: &str, plaintext: Vec<u8>) -> Prepared {
    let count = pieces_for(plaintext.len() as u64) as usize;
    let pieces = (0..count)
        .map(|p| {
            let end = ((p + 1) * PIECE_SIZE).min(plaintext.len());
            encrypt(
                &piece_recipient(identity, f, p),
                &plaintext[p * PIECE_SIZE..end],
            )
        })
        .collect();
    Prepared {
        name: name.to_owned(),
        plaintext,
        pieces,
    }
}

/// Prepares `files`, declares the transfer (nothing uploaded yet).
async fn declare(api: &Api, files: Vec<(&str, Vec<u8>)>, message: &str) -> Sent {
    let identity = age::x25519::Identity::generate();
    let to = identity.to_public();
    let files: Vec<Prepared> = files
        .into_iter()
        .enumerate()
        .map(|(f, (n, b))| prepare(&identity, f, n, b))
        .collect();
    let manifest = Manifest {
        v: MANIFEST_VERSION,
        message: Some(message.to_owned()),
        files: files
            .iter()
            .map(|f| ManifestFile {
                name: f.name.clone(),
                size: f.plaintext.len() as u64,
                media_type: Some("application/octet-stream".to_owned()),
                modified: Some(1_764_540_000),
            })
            .collect(),
    };
    let manifest = encrypt(&to, &serde_json::to_vec(&manifest).unwrap());
    let declared: Vec<Value> = files
        .iter()
        .map(|f| json!({"pieces": f.pieces.len(), "size": f.size()}))
        .collect();
    let res = api
        .create(&json!({
            "manifest": STANDARD.encode(&manifest),
            "files": declared,
            "expires_in": 3600,
        }))
        .await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["piece_size"], PIECE_SIZE);
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["url"], api.url(&format!("/f/{id}")));
    Sent {
        id,
        upload_token: body["upload_token"].as_str().unwrap().to_owned(),
        identity,
        files,
        message: message.to_owned(),
    }
}

/// Uploads every piece and completes.
async fn upload_all(api: &Api, sent: &Sent) {
    for (f, file) in sent.files.iter().enumerate() {
        for (p, piece) in file.pieces.iter().enumerate() {
            let res = api
                .put(&sent.id, Some(&sent.upload_token), f, p, piece.clone())
                .await;
            assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
        }
    }
    let res = api.complete(&sent.id, &sent.upload_token).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// A small transfer, uploaded and complete.
async fn small_transfer(api: &Api) -> Sent {
    let sent = declare(api, vec![("a.txt", b"hello".to_vec())], "hi").await;
    upload_all(api, &sent).await;
    sent
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql: &'static str = match table {
        "transfers" => "SELECT COUNT(*) FROM transfers",
        "transfer_pieces" => "SELECT COUNT(*) FROM transfer_pieces",
        "transfer_files" => "SELECT COUNT(*) FROM transfer_files",
        other => panic!("no table {other}"),
    };
    match &app.store {
        handoff::store::Store::Sqlite(db) => {
            sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
        }
        handoff::store::Store::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

/// Pseudo-random bytes (xorshift), so that pieces differ.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn round_trip_of_a_9_mib_file_and_an_empty_one(app: TestApp) {
    let api = Api::of(&app);
    let big = noise(9 * 1024 * 1024 + 123, 7);
    let sent = declare(
        &api,
        vec![("logs/export.bin", big.clone()), ("empty", vec![])],
        "the logs you asked for",
    )
    .await;
    assert_eq!(sent.files[0].pieces.len(), 3);
    assert_eq!(sent.files[1].pieces.len(), 1);
    upload_all(&api, &sent).await;

    let meta: Value = api
        .get(&format!("/api/v1/transfers/{}", sent.id), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["files"], 2);
    assert_eq!(
        meta["size"],
        (sent.files[0].size() + sent.files[1].size()) as i64
    );

    let res = api.claim(&sent.id).await;
    assert_eq!(res.status(), 200);
    let claimed: Value = res.json().await.unwrap();
    let manifest = decrypt(
        &sent.identity,
        &STANDARD
            .decode(claimed["manifest"].as_str().unwrap())
            .unwrap(),
    );
    let manifest = Manifest::parse(&manifest, 2).unwrap();
    assert_eq!(manifest.message.as_deref(), Some(sent.message.as_str()));
    assert_eq!(manifest.files[0].name, "logs/export.bin");
    assert_eq!(manifest.files[0].size, big.len() as u64);
    let token = claimed["download_token"].as_str().unwrap();
    for (f, file) in sent.files.iter().enumerate() {
        assert_eq!(claimed["files"][f]["pieces"], file.pieces.len());
        let mut plain = vec![];
        for p in 0..file.pieces.len() {
            let res = api.get_piece(&sent.id, token, f, p).await;
            assert_eq!(res.status(), 200);
            assert_eq!(res.headers()["content-type"], "application/octet-stream");
            assert_eq!(res.headers()["cache-control"], "no-store");
            let key = piece_identity(&sent.identity, f as u32, p as u32).unwrap();
            plain.extend(decrypt(&key, &res.bytes().await.unwrap()));
        }
        assert!(
            plain == file.plaintext,
            "file {f} round-trips byte for byte"
        );
    }
    // Read once: the metadata and a second claim are gone.
    let res = api
        .get(&format!("/api/v1/transfers/{}", sent.id), None)
        .await;
    assert_error(res, 404, "not_found").await;
    assert_error(api.claim(&sent.id).await, 404, "not_found").await;

    let res = api
        .post(
            &format!("/api/v1/transfers/{}/finish", sent.id),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_error(api.get_piece(&sent.id, token, 0, 0).await, 404, "not_found").await;
    // The pieces go right after the answer.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while count(&app, "transfers").await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "finish deletes");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(count(&app, "transfer_pieces").await, 0, "finish deletes");
}

async fn an_upload_resumes_where_it_stopped(app: TestApp) {
    let api = Api::of(&app);
    let sent = declare(&api, vec![("a", noise(2 * PIECE_SIZE + 10, 3))], "").await;
    let (id, token) = (sent.id.as_str(), sent.upload_token.as_str());
    let pieces = &sent.files[0].pieces;
    for p in [0, 2] {
        let res = api.put(id, Some(token), 0, p, pieces[p].clone()).await;
        assert_eq!(res.status(), 204);
    }
    let state: Value = api
        .get(&format!("/api/v1/transfers/{id}/upload"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        state,
        json!({"complete": false, "files": [{"pieces": 3, "present": [0, 2]}]})
    );
    // The same piece again is harmless; other bytes for it are refused.
    let res = api.put(id, Some(token), 0, 0, pieces[0].clone()).await;
    assert_eq!(res.status(), 204);
    let again = encrypt(
        &piece_recipient(&sent.identity, 0, 0),
        &sent.files[0].plaintext[..PIECE_SIZE],
    );
    assert_ne!(&again, &pieces[0]);
    assert_error(
        api.put(id, Some(token), 0, 0, again).await,
        409,
        "piece_exists",
    )
    .await;

    let message = assert_error(api.complete(id, token).await, 409, "incomplete").await;
    assert!(message.contains("1 piece is"), "{message}");
    assert_error(api.claim(id).await, 404, "not_found").await;

    let res = api.put(id, Some(token), 0, 1, pieces[1].clone()).await;
    assert_eq!(res.status(), 204);
    let done = api.complete(id, token).await;
    assert_eq!(done.status(), 200);
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["id"], id);
    // Idempotent, and no more pieces.
    assert_eq!(api.complete(id, token).await.status(), 200);
    assert_error(
        api.put(id, Some(token), 0, 1, pieces[1].clone()).await,
        409,
        "complete",
    )
    .await;
    let state: Value = api
        .get(&format!("/api/v1/transfers/{id}/upload"), Some(token))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state["complete"], true);
    assert_eq!(count(&app, "transfer_pieces").await, 3);
}

async fn an_incomplete_transfer_is_never_downloadable(app: TestApp) {
    let api = Api::of(&app);
    let sent = declare(&api, vec![("a", b"x".to_vec()), ("b", b"y".to_vec())], "").await;
    let res = api
        .put(
            &sent.id,
            Some(&sent.upload_token),
            0,
            0,
            sent.files[0].pieces[0].clone(),
        )
        .await;
    assert_eq!(res.status(), 204);
    let res = api
        .get(&format!("/api/v1/transfers/{}", sent.id), None)
        .await;
    assert_error(res, 404, "not_found").await;
    assert_error(api.claim(&sent.id).await, 404, "not_found").await;
    // Not with the upload token either.
    let res = api.get_piece(&sent.id, &sent.upload_token, 0, 0).await;
    assert_error(res, 404, "not_found").await;
}

async fn an_oversized_transfer_is_refused_before_anything_is_stored(app: TestApp) {
    let api = Api::of(&app);
    let manifest = STANDARD.encode(encrypt(
        &age::x25519::Identity::generate().to_public(),
        br#"{"v":2,"files":[]}"#,
    ));
    // 300 pieces of ciphertext: over the default 1 GiB.
    let res = api
        .create(&json!({
            "manifest": manifest,
            "files": [{"pieces": 300, "size": 300_u64 * 4_200_000}],
            "expires_in": 3600,
        }))
        .await;
    let message = assert_error(res, 413, "too_large").await;
    assert!(message.contains("1073741824"), "{message}");
    // Declarations no pieces can have, and malformed bodies.
    for (files, code) in [
        (json!([]), "invalid_field"),
        (json!([{"pieces": 0, "size": 0}]), "invalid_field"),
        (json!([{"pieces": 3, "size": 600}]), "invalid_field"),
        (
            json!([{"pieces": 1, "size": PIECE_CIPHERTEXT_MAX + 1}]),
            "invalid_field",
        ),
        (json!([{"pieces": 1}]), "bad_request"),
    ] {
        let res = api
            .create(&json!({"manifest": manifest, "files": files, "expires_in": 3600}))
            .await;
        assert_error(res, 400, code).await;
    }
    let res = api
        .create(&json!({"manifest": STANDARD.encode(b"not age"), "files": [{"pieces": 1, "size": 300}], "expires_in": 3600}))
        .await;
    assert_error(res, 422, "not_age_file").await;
    let res = api
        .create(
            &json!({"manifest": manifest, "files": [{"pieces": 1, "size": 300}], "expires_in": 10}),
        )
        .await;
    assert_error(res, 400, "invalid_expiry").await;
    assert_eq!(count(&app, "transfers").await, 0);
    assert_eq!(count(&app, "transfer_files").await, 0);
}

async fn bad_pieces_are_refused_and_not_stored(app: TestApp) {
    let api = Api::of(&app);
    let sent = declare(&api, vec![("a", noise(PIECE_SIZE + 5, 9))], "").await;
    let (id, token) = (sent.id.as_str(), sent.upload_token.as_str());
    let to = sent.identity.to_public();

    let res = api
        .put(id, Some(token), 0, 0, b"not an age file".to_vec())
        .await;
    assert_error(res, 422, "not_age_file").await;
    let armored = age::encrypt_and_armor(&to, b"x").unwrap().into_bytes();
    assert_error(
        api.put(id, Some(token), 0, 1, armored).await,
        422,
        "not_age_file",
    )
    .await;
    let mut pass = age::scrypt::Recipient::new(age::secrecy::SecretString::from("pw".to_owned()));
    pass.set_work_factor(2);
    let scrypt = age::encrypt(&pass, b"x").unwrap();
    let message = assert_error(
        api.put(id, Some(token), 0, 1, scrypt).await,
        422,
        "not_age_file",
    )
    .await;
    assert!(message.contains("scrypt"), "{message}");
    // A first piece must hold a full 4 MiB.
    let short = encrypt(&to, b"short");
    assert_error(
        api.put(id, Some(token), 0, 0, short).await,
        422,
        "invalid_piece",
    )
    .await;
    // Too large: refused on its Content-Length, before a byte of the body
    // is sent.
    let (status, body) = head_only_put(&app, id, token, PIECE_CIPHERTEXT_MAX + 1).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("too_large"), "{body}");
    // Out of range, and not numbers.
    for (f, p) in [("1", "0"), ("0", "2"), ("x", "0"), ("0", "-1")] {
        let res = api
            .put(id, Some(token), f, p, sent.files[0].pieces[1].clone())
            .await;
        assert_error(res, 400, "bad_request").await;
    }
    let res = api
        .http
        .put(api.url(&format!("/api/v1/transfers/{id}/files/0/pieces/1")))
        .bearer_auth(token)
        .header("content-type", "text/plain")
        .body(sent.files[0].pieces[1].clone())
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
    assert_eq!(count(&app, "transfer_pieces").await, 0);
    // The right pieces still go in.
    upload_all(&api, &sent).await;
}

/// A refusal the server decides before reading the piece (an unknown
/// token, a piece out of range, the wrong media type, a complete transfer)
/// still reaches a client that goes on sending the whole piece meanwhile, as
/// HTTP/1.1 clients do (reqwest, browsers, `handoff send`). It failed now
/// and then in CI with reqwest's "broken pipe" instead of the 409: the
/// server answered and closed with the body unread, and the kernel reset
/// the connection under the client's writes.
async fn a_refused_piece_is_answered_to_a_client_still_sending_it(app: TestApp) {
    let api = Api::of(&app);
    let sent = declare(&api, vec![("a", noise(PIECE_SIZE + 5, 4))], "").await;
    let (id, token) = (sent.id.as_str(), sent.upload_token.as_str());
    let piece = &sent.files[0].pieces[0];
    let octets = "application/octet-stream";
    for (f, p, token, media_type, status, code) in [
        ("0", "2", token, octets, 400, "bad_request"),
        ("0", "0", token, "text/plain", 415, "unsupported_media_type"),
        ("0", "0", "not-the-token", octets, 404, "not_found"),
    ] {
        let (got, answer) = put_while_sending(&app, id, token, f, p, media_type, piece).await;
        assert_eq!(got, status, "{answer}");
        assert!(answer.contains(code), "{answer}");
    }
    assert_eq!(count(&app, "transfer_pieces").await, 0);
    upload_all(&api, &sent).await;
    assert_eq!(api.complete(id, token).await.status(), 200);
    let (got, answer) = put_while_sending(&app, id, token, "0", "0", octets, piece).await;
    assert_eq!(got, 409, "{answer}");
    assert!(answer.contains("\"complete\""), "{answer}");
}

/// PUTs `body` as piece `f`/`p` from a socket whose send buffer is a few
/// KiB, so that the server's receive buffer and this one together hold a
/// small part of a piece: the rest is sent only as fast as the server reads
/// it. Returns the status and the whole answer.
async fn put_while_sending(
    app: &TestApp,
    id: &str,
    token: &str,
    f: &str,
    p: &str,
    media_type: &str,
    body: &[u8],
) -> (u16, String) {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    let mut conn = socket.connect(app.addr).await.unwrap();
    let head = format!(
        "PUT /api/v1/transfers/{id}/files/{f}/pieces/{p} HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: {media_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        app.addr,
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body)
        .await
        .expect("the server reads the piece before it answers");
    read_answer(conn, "answered").await
}

/// Reads an HTTP/1.1 answer to its end (the request said `Connection:
/// close`): its status and the whole text; `expect` says what a timeout of
/// 10 s means.
async fn read_answer(mut conn: tokio::net::TcpStream, expect: &str) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        conn.read_to_end(&mut answer),
    )
    .await
    .expect(expect)
    .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

/// Sends only the head of a PUT of piece 0/0 declaring `len` bytes, and
/// reads the answer: the server must answer without waiting for the body.
async fn head_only_put(app: &TestApp, id: &str, token: &str, len: usize) -> (u16, String) {
    use tokio::io::AsyncWriteExt;
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "PUT /api/v1/transfers/{id}/files/0/pieces/0 HTTP/1.1\r\nHost: {}\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n",
        app.addr
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    read_answer(conn, "answered without the body").await
}

async fn wrong_or_missing_tokens_get_404(app: TestApp) {
    let api = Api::of(&app);
    let sent = declare(&api, vec![("a", b"x".to_vec())], "").await;
    let id = sent.id.as_str();
    let piece = sent.files[0].pieces[0].clone();
    let stranger = handoff::id::Id::random().to_string();
    for token in [None, Some(stranger.as_str()), Some("not-a-token")] {
        assert_error(
            api.put(id, token, 0, 0, piece.clone()).await,
            404,
            "not_found",
        )
        .await;
        let res = api
            .get(&format!("/api/v1/transfers/{id}/upload"), token)
            .await;
        assert_error(res, 404, "not_found").await;
        let res = api
            .post(&format!("/api/v1/transfers/{id}/complete"), token)
            .await;
        assert_error(res, 404, "not_found").await;
    }
    assert_eq!(count(&app, "transfer_pieces").await, 0);
    upload_all(&api, &sent).await;
    let claimed: Value = api.claim(id).await.json().await.unwrap();
    let download = claimed["download_token"].as_str().unwrap();
    // Each token opens its own doors only.
    assert_error(
        api.get_piece(id, &sent.upload_token, 0, 0).await,
        404,
        "not_found",
    )
    .await;
    assert_error(api.get_piece(id, &stranger, 0, 0).await, 404, "not_found").await;
    let res = api
        .get(&format!("/api/v1/transfers/{id}/upload"), Some(download))
        .await;
    assert_error(res, 404, "not_found").await;
    let res = api
        .post(
            &format!("/api/v1/transfers/{id}/finish"),
            Some(&sent.upload_token),
        )
        .await;
    assert_error(res, 404, "not_found").await;
    let res = api
        .post(&format!("/api/v1/transfers/{id}/finish"), None)
        .await;
    assert_error(res, 404, "not_found").await;
    // An unknown id with the right token's shape.
    let res = api.get_piece(&stranger, download, 0, 0).await;
    assert_error(res, 404, "not_found").await;
    assert_eq!(api.get_piece(id, download, 0, 0).await.status(), 200);
}

async fn sixteen_concurrent_claims_have_exactly_one_winner(app: TestApp) {
    let api = Api::of(&app);
    for _round in 0..3 {
        let sent = small_transfer(&api).await;
        let mut tasks = vec![];
        for _ in 0..16 {
            let api = api.clone();
            let id = sent.id.clone();
            tasks.push(tokio::spawn(async move {
                let res = api.claim(&id).await;
                let status = res.status().as_u16();
                let body: Value = res.json().await.unwrap();
                (status, body)
            }));
        }
        let mut winners = vec![];
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                200 => winners.push(body),
                404 => assert_eq!(body["error"], "not_found"),
                other => panic!("unexpected status {other}: {body}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one claim wins");
        let token = winners[0]["download_token"].as_str().unwrap();
        assert_eq!(api.get_piece(&sent.id, token, 0, 0).await.status(), 200);
    }
}

async fn a_download_after_the_grace_is_gone(app: TestApp) {
    let api = Api::of(&app);
    let sent = small_transfer(&api).await;
    let claimed: Value = api.claim(&sent.id).await.json().await.unwrap();
    let token = claimed["download_token"].as_str().unwrap();
    app.clock.advance(15 * 60 - 1);
    assert_eq!(api.get_piece(&sent.id, token, 0, 0).await.status(), 200);
    app.clock.advance(1);
    assert_error(api.get_piece(&sent.id, token, 0, 0).await, 404, "not_found").await;
    let res = api
        .post(
            &format!("/api/v1/transfers/{}/finish", sent.id),
            Some(token),
        )
        .await;
    assert_error(res, 404, "not_found").await;
}

async fn the_purge_removes_what_is_over_and_keeps_the_rest(app: TestApp) {
    let api = Api::of(&app);
    // Uploading (one piece of two), complete and waiting, claimed.
    let uploading = declare(&api, vec![("a", b"1".to_vec()), ("b", b"2".to_vec())], "").await;
    let res = api
        .put(
            &uploading.id,
            Some(&uploading.upload_token),
            0,
            0,
            uploading.files[0].pieces[0].clone(),
        )
        .await;
    assert_eq!(res.status(), 204);
    let waiting = small_transfer(&api).await;
    let claimed = small_transfer(&api).await;
    assert_eq!(api.claim(&claimed.id).await.status(), 200);
    assert_eq!(count(&app, "transfers").await, 3);
    assert_eq!(count(&app, "transfer_pieces").await, 3);

    handoff::purge::purge_once(&app.store, &app.clock).await;
    assert_eq!(count(&app, "transfers").await, 3, "nothing is over yet");

    app.clock.advance(15 * 60);
    handoff::purge::purge_once(&app.store, &app.clock).await;
    assert_eq!(
        count(&app, "transfers").await,
        2,
        "the claim's grace is over"
    );
    assert_eq!(count(&app, "transfer_pieces").await, 2);
    let res = api
        .get(&format!("/api/v1/transfers/{}", waiting.id), None)
        .await;
    assert_eq!(res.status(), 200, "the waiting one stays");

    app.clock.advance(3_600);
    handoff::purge::purge_once(&app.store, &app.clock).await;
    assert_eq!(
        count(&app, "transfers").await,
        0,
        "expired: uploading or not"
    );
    assert_eq!(count(&app, "transfer_pieces").await, 0);
    assert_eq!(count(&app, "transfer_files").await, 0);
}

/// A declared size is the most the pieces may take: more is refused as it
/// arrives; less is fine, and the transfer then reports what its pieces hold.
async fn a_declared_size_bounds_the_pieces(app: TestApp) {
    let api = Api::of(&app);
    let to = age::x25519::Identity::generate().to_public();
    let piece = encrypt(&to, b"some bytes");
    let manifest = STANDARD.encode(encrypt(&to, br#"{"v":2,"files":[{"name":"a","size":10}]}"#));
    let create = |size: usize| json!({"manifest": manifest, "files": [{"pieces": 1, "size": size}], "expires_in": 3600});
    let small: Value = api
        .create(&create(piece.len() - 1))
        .await
        .json()
        .await
        .unwrap();
    let (id, token) = (
        small["id"].as_str().unwrap(),
        small["upload_token"].as_str().unwrap(),
    );
    let message = assert_error(
        api.put(id, Some(token), 0, 0, piece.clone()).await,
        413,
        "too_large",
    )
    .await;
    assert!(message.contains("declared"), "{message}");

    let roomy: Value = api
        .create(&create(piece.len() + 300))
        .await
        .json()
        .await
        .unwrap();
    let (id, token) = (
        roomy["id"].as_str().unwrap(),
        roomy["upload_token"].as_str().unwrap(),
    );
    assert_eq!(
        api.put(id, Some(token), 0, 0, piece.clone()).await.status(),
        204
    );
    assert_eq!(api.complete(id, token).await.status(), 200);
    let meta: Value = api
        .get(&format!("/api/v1/transfers/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["size"], piece.len());
    let claimed: Value = api.claim(id).await.json().await.unwrap();
    assert_eq!(claimed["files"][0]["size"], piece.len());
}

/// Over its expiry an upload takes no more pieces and cannot be completed.
async fn an_expired_upload_takes_nothing_more(app: TestApp) {
    let api = Api::of(&app);
    let sent = declare(&api, vec![("a", b"x".to_vec())], "").await;
    app.clock.advance(3_600);
    let res = api
        .put(
            &sent.id,
            Some(&sent.upload_token),
            0,
            0,
            sent.files[0].pieces[0].clone(),
        )
        .await;
    assert_error(res, 404, "not_found").await;
    assert_error(
        api.complete(&sent.id, &sent.upload_token).await,
        404,
        "not_found",
    )
    .await;
}

on_both_backends!(
    round_trip_of_a_9_mib_file_and_an_empty_one,
    an_upload_resumes_where_it_stopped,
    a_refused_piece_is_answered_to_a_client_still_sending_it,
    an_incomplete_transfer_is_never_downloadable,
    an_oversized_transfer_is_refused_before_anything_is_stored,
    bad_pieces_are_refused_and_not_stored,
    wrong_or_missing_tokens_get_404,
    sixteen_concurrent_claims_have_exactly_one_winner,
    a_download_after_the_grace_is_gone,
    the_purge_removes_what_is_over_and_keeps_the_rest,
    an_expired_upload_takes_nothing_more,
    a_declared_size_bounds_the_pieces,
);

/// With the public page off, nobody may start a transfer.
#[tokio::test]
async fn transfers_follow_the_public_page_switch() {
    let app = spawn_app_with(Backend::Sqlite, |s| handoff::config::Settings {
        public_page: false,
        ..s.without_rate_limits()
    })
    .await;
    let res = Api::of(&app)
        .create(&json!({"manifest": "", "files": [], "expires_in": 3600}))
        .await;
    assert_error(res, 403, "forbidden").await;
}

/// The real server on a SQLite file: after a whole transfer (claimed,
/// downloaded, not yet finished) the names, the message, the contents, the
/// identity and the tokens are in neither the database, its WAL nor the log.
#[tokio::test]
async fn file_names_contents_keys_and_tokens_never_reach_the_disk() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(db.url(), dir.path()).await;
    let api = Api {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let contents = b"CONTENTS-7f3a-top-secret-private-key-material ".repeat(1000);
    let sent = declare(
        &api,
        vec![
            ("NAME-customer-vpn-profile.ovpn", contents.clone()),
            (
                "DIR-onboarding/NAME-signed-form.pdf",
                b"FORM-d41d8".to_vec(),
            ),
        ],
        "MESSAGE-here are the files",
    )
    .await;
    upload_all(&api, &sent).await;
    let claimed: Value = api.claim(&sent.id).await.json().await.unwrap();
    let download = claimed["download_token"].as_str().unwrap().to_owned();
    assert_eq!(api.get_piece(&sent.id, &download, 0, 0).await.status(), 200);

    let identity = sent.identity.to_string();
    let needles: Vec<(&str, &[u8])> = vec![
        ("file name", b"NAME-customer-vpn"),
        ("folder name", b"DIR-onboarding"),
        ("file name", b"NAME-signed-form"),
        ("message", b"MESSAGE-here"),
        ("contents", b"CONTENTS-7f3a"),
        ("contents", b"FORM-d41d8"),
        ("identity", identity.expose_secret().as_bytes()),
        ("upload token", sent.upload_token.as_bytes()),
        ("download token", download.as_bytes()),
    ];
    let path = db.sqlite_path().unwrap();
    let wal = path.with_extension("db-wal");
    assert!(wal.exists(), "the WAL is there to be scanned");
    for file in [path.clone(), wal, server.log.clone()] {
        let bytes = std::fs::read(&file).unwrap();
        for (what, needle) in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == *needle),
                "the {what} is in {}",
                file.display()
            );
        }
    }
    // The scan can fail: the pieces' ciphertext itself is stored.
    let piece = &sent.files[0].pieces[0];
    let run = &piece[piece.len() / 2..piece.len() / 2 + 64];
    // The WAL first: a checkpoint copies frames into the file before it
    // truncates the WAL, so what the WAL no longer holds is in the file by
    // then. (Read the other way round, a purge pass's truncation between the
    // two reads hid the pieces from both.)
    let stored = [path.with_extension("db-wal"), path.clone()]
        .iter()
        .any(|f| std::fs::read(f).unwrap().windows(64).any(|w| w == run));
    assert!(stored, "the scan finds what is there");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("file transfer created"), "{log}");
}
