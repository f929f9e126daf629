//! Requests for files (issue 14, part 4): the customer uploads a transfer
//! bound to a files request and answers with its id and key; the PM and the
//! collector each read the pieces with a token of their own; the transfer
//! is never claimable; its pieces stay until every reader is done. Every
//! store behaviour on both engines; then `handoff collect --target dir`, the
//! real binary against the real server.

mod common;

use std::io::Write;

use age::secrecy::ExposeSecret;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::flow::{Opened, app_with_soc, decrypt, encrypt_to, open_request_for};
use common::{Backend, TestApp, assert_error};
use handoff::transfer::{
    MANIFEST_VERSION, Manifest, ManifestFile, PIECE_SIZE, piece_identity, pieces_for,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn encrypt(to: &age::x25519::Recipient, plaintext: &[u8]) -> Vec<u8> {
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(to as &dyn age::Recipient)).unwrap();
    let mut out = vec![];
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    w.write_all(plaintext).unwrap();
    w.finish().unwrap();
    out
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

/// What a customer's browser holds of the files it sent.
struct Upload {
    id: String,
    upload_token: String,
    identity: age::x25519::Identity,
    /// Each file's name and plaintext.
    files: Vec<(String, Vec<u8>)>,
    /// Each file's pieces, encrypted.
    pieces: Vec<Vec<Vec<u8>>>,
}

/// The customer's side of the API at `base`.
struct Customer {
    http: reqwest::Client,
    base: String,
}

impl Customer {
    fn of(app: &TestApp) -> Customer {
        Customer {
            http: app.http.clone(),
            base: app.base.clone(),
        }
    }

    async fn post(&self, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn create(&self, body: &Value) -> reqwest::Response {
        self.post("/api/v1/transfers", body, None).await
    }

    /// Declares `files` as a transfer for `request` (nothing uploaded).
    async fn declare(&self, request: &str, files: &[(&str, Vec<u8>)]) -> Upload {
        let identity = age::x25519::Identity::generate();
        let to = identity.to_public();
        let manifest = Manifest {
            v: MANIFEST_VERSION,
            message: None,
            files: files
                .iter()
                .map(|(name, bytes)| ManifestFile {
                    name: (*name).to_owned(),
                    size: bytes.len() as u64,
                    media_type: None,
                    modified: None,
                })
                .collect(),
        };
        // Each piece to the key of its place, as the browser and the CLI do.
        let pieces: Vec<Vec<Vec<u8>>> = files
            .iter()
            .enumerate()
            .map(|(f, (_, bytes))| {
                (0..pieces_for(bytes.len() as u64) as usize)
                    .map(|p| {
                        let end = ((p + 1) * PIECE_SIZE).min(bytes.len());
                        let key = piece_identity(&identity, f as u32, p as u32).unwrap();
                        encrypt(&key.to_public(), &bytes[p * PIECE_SIZE..end])
                    })
                    .collect()
            })
            .collect();
        let declared: Vec<Value> = pieces
            .iter()
            .map(|p| json!({"pieces": p.len(), "size": p.iter().map(Vec::len).sum::<usize>()}))
            .collect();
        let res = self
            .create(&json!({
                "manifest": STANDARD.encode(encrypt(&to, &serde_json::to_vec(&manifest).unwrap())),
                "files": declared,
                "request": request,
            }))
            .await;
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
        let body: Value = res.json().await.unwrap();
        Upload {
            id: body["id"].as_str().unwrap().to_owned(),
            upload_token: body["upload_token"].as_str().unwrap().to_owned(),
            identity,
            files: files
                .iter()
                .map(|(n, b)| ((*n).to_owned(), b.clone()))
                .collect(),
            pieces,
        }
    }

    /// Uploads every piece of `u` and completes it.
    async fn upload(&self, u: &Upload) {
        for (f, pieces) in u.pieces.iter().enumerate() {
            for (p, piece) in pieces.iter().enumerate() {
                let res = self
                    .http
                    .put(format!(
                        "{}/api/v1/transfers/{}/files/{f}/pieces/{p}",
                        self.base, u.id
                    ))
                    .bearer_auth(&u.upload_token)
                    .header("content-type", "application/octet-stream")
                    .body(piece.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
            }
        }
        let res = self
            .post(
                &format!("/api/v1/transfers/{}/complete", u.id),
                &json!({}),
                Some(&u.upload_token),
            )
            .await;
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }

    /// Declares and uploads `files` for `request`.
    async fn send(&self, request: &str, files: &[(&str, Vec<u8>)]) -> Upload {
        let u = self.declare(request, files).await;
        self.upload(&u).await;
        u
    }

    /// Answers `r` as the request page does: the payload names the transfer
    /// and holds its key, encrypted to the PM and to `soc`; the body names
    /// `transfer` in the clear.
    async fn answer(
        &self,
        r: &Opened,
        soc: &age::x25519::Identity,
        u: &Upload,
        transfer: Option<&str>,
    ) -> reqwest::Response {
        let payload = json!({"v": 1, "template": "files", "fields": {
            "transfer": u.id, "key": u.identity.to_string().expose_secret(),
        }, "note": "NOTE-the certificate you asked for"})
        .to_string();
        self.post(
            &format!("/api/v1/requests/{}/answer", r.id),
            &json!({
                "pm_ciphertext": encrypt_to(&[r.identity.to_public()], payload.as_bytes()),
                "sealed_ciphertext": encrypt_to(&[soc.to_public()], payload.as_bytes()),
                "transfer": transfer,
            }),
            None,
        )
        .await
    }

    async fn get_piece(&self, id: &str, token: &str, f: usize, p: usize) -> reqwest::Response {
        self.http
            .get(format!(
                "{}/api/v1/transfers/{id}/files/{f}/pieces/{p}",
                self.base
            ))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// A files request opened by staff.
async fn files_request(app: &TestApp) -> Opened {
    open_request_for(&app.store, app.clock.now(), 86_400, "files").await
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    match &app.store {
        handoff::store::Store::Sqlite(db) => {
            sqlx::query_scalar(sql).fetch_one(&db.pool).await.unwrap()
        }
        handoff::store::Store::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

async fn pieces_held(app: &TestApp) -> i64 {
    count(app, "SELECT COUNT(*) FROM transfer_pieces").await
}

async fn purge(app: &TestApp) {
    handoff::purge::purge_once(&app.store, &app.clock).await;
}

/// Checks a reader's grant: the manifest opens with the transfer's key and
/// every piece comes back byte for byte with `token`.
async fn reads_everything(c: &Customer, u: &Upload, grant: &Value) {
    assert_eq!(grant["id"], u.id);
    let manifest = STANDARD
        .decode(grant["manifest"].as_str().unwrap())
        .unwrap();
    let manifest = age::decrypt(&u.identity, &manifest).unwrap();
    let manifest = Manifest::parse(&manifest, u.files.len()).unwrap();
    let token = grant["download_token"].as_str().unwrap();
    for (f, (name, plain)) in u.files.iter().enumerate() {
        assert_eq!(&manifest.files[f].name, name);
        assert_eq!(grant["files"][f]["pieces"], u.pieces[f].len());
        let mut got = vec![];
        for p in 0..u.pieces[f].len() {
            let res = c.get_piece(&u.id, token, f, p).await;
            assert_eq!(res.status(), 200);
            let key = piece_identity(&u.identity, f as u32, p as u32).unwrap();
            got.extend(age::decrypt(&key, &res.bytes().await.unwrap()).unwrap());
        }
        assert!(&got == plain, "file {f} round-trips byte for byte");
    }
}

async fn lease(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/inbox/{id}/lease", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn ack(app: &TestApp, token: &str, id: &str, lease_id: &str) -> reqwest::Response {
    app.http
        .post(format!("{}/api/v1/inbox/{id}/ack", app.base))
        .bearer_auth(token)
        .json(&json!({"lease_id": lease_id, "target": "dir"}))
        .send()
        .await
        .unwrap()
}

async fn retrieve(app: &TestApp, r: &Opened) -> reqwest::Response {
    app.post_json(
        &format!("/api/v1/retrievals/{}/reveal", r.retrieval_id),
        &json!({}),
    )
    .await
}

async fn finish(c: &Customer, id: &str, token: &str) -> reqwest::Response {
    c.post(
        &format!("/api/v1/transfers/{id}/finish"),
        &json!({}),
        Some(token),
    )
    .await
}

/// The whole round: the PM and the collector each read every piece with a
/// token of their own; the transfer is never claimable nor shown at /f/;
/// the pieces stay until both are done, then the purge deletes them.
async fn both_readers_get_the_files_and_the_purge_waits_for_both(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let c = Customer::of(&app);
    let r = files_request(&app).await;
    let big = noise(PIECE_SIZE + 77, 5);
    let u = c
        .send(
            &r.id,
            &[("certs/app.pem", b"-----BEGIN".to_vec()), ("logs.bin", big)],
        )
        .await;
    // Never claimable, never shown to whoever holds its id.
    let claim = c
        .post(
            &format!("/api/v1/transfers/{}/claim", u.id),
            &json!({}),
            None,
        )
        .await;
    assert_error(claim, 404, "not_found").await;
    assert_error(
        app.get(&format!("/api/v1/transfers/{}", u.id)).await,
        404,
        "not_found",
    )
    .await;
    assert_eq!(app.get(&format!("/f/{}", u.id)).await.status(), 404);

    let res = c.answer(&r, &soc, &u, Some(&u.id)).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

    // The PM: the payload names the transfer and holds its key.
    let res = retrieve(&app, &r).await;
    assert_eq!(res.status(), 200);
    let pm: Value = res.json().await.unwrap();
    let payload: Value = serde_json::from_str(&decrypt(
        &r.identity,
        &STANDARD.decode(pm["ciphertext"].as_str().unwrap()).unwrap(),
    ))
    .unwrap();
    assert_eq!(payload["fields"]["transfer"], u.id);
    assert_eq!(pm["transfer"]["id"], u.id);
    reads_everything(&c, &u, &pm["transfer"]).await;

    // The collector: a token of its own.
    let token = common::flow::mint_token(&app, "collector", "collect").await;
    let res = lease(&app, &token, &r.id).await;
    assert_eq!(res.status(), 200);
    let leased: Value = res.json().await.unwrap();
    let sealed = leased["transfer"].clone();
    assert_ne!(sealed["download_token"], pm["transfer"]["download_token"]);
    reads_everything(&c, &u, &sealed).await;

    // Both still reading: nothing goes.
    purge(&app).await;
    let held = pieces_held(&app).await;
    assert_eq!(held, 3);
    // The collector acknowledges: its token stops, the PM's goes on, and
    // the pieces stay while the PM's grace runs (both copies are gone).
    let lease_id = leased["lease_id"].as_str().unwrap();
    assert_eq!(ack(&app, &token, &r.id, lease_id).await.status(), 204);
    let sealed_token = sealed["download_token"].as_str().unwrap();
    assert_error(
        c.get_piece(&u.id, sealed_token, 0, 0).await,
        404,
        "not_found",
    )
    .await;
    let pm_token = pm["transfer"]["download_token"].as_str().unwrap();
    assert_eq!(c.get_piece(&u.id, pm_token, 0, 0).await.status(), 200);
    purge(&app).await;
    assert_eq!(pieces_held(&app).await, held, "the PM still reads");

    // The PM is done: every reader is, and the pieces go.
    assert_eq!(finish(&c, &u.id, pm_token).await.status(), 204);
    assert_error(c.get_piece(&u.id, pm_token, 0, 0).await, 404, "not_found").await;
    purge(&app).await;
    assert_eq!(pieces_held(&app).await, 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM transfers").await, 0);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM transfer_readers").await,
        0
    );
}

/// The PM's grace running out (without a finish) counts as done; so does
/// the sealed copy's expiry when no collector took it. A PM that finishes
/// first leaves the pieces to the collector.
async fn a_lapsed_grace_and_expired_copies_free_the_pieces(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let c = Customer::of(&app);
    let r = files_request(&app).await;
    let u = c.send(&r.id, &[("a.txt", b"hello".to_vec())]).await;
    assert_eq!(c.answer(&r, &soc, &u, Some(&u.id)).await.status(), 201);
    let pm: Value = retrieve(&app, &r).await.json().await.unwrap();
    let grace_until = pm["transfer"]["grace_until"].as_str().unwrap().to_owned();
    purge(&app).await;
    assert_eq!(pieces_held(&app).await, 1, "the PM reads");
    app.clock.advance(15 * 60 + 1);
    let token = pm["transfer"]["download_token"].as_str().unwrap();
    assert_error(c.get_piece(&u.id, token, 0, 0).await, 404, "not_found").await;
    purge(&app).await;
    assert_eq!(
        pieces_held(&app).await,
        1,
        "the sealed copy waits ({grace_until})"
    );
    // The copies expire with the longest lifetime a secret may have.
    app.clock.advance(400 * 86_400);
    purge(&app).await;
    assert_eq!(pieces_held(&app).await, 0);
}

/// Withdrawing the answer deletes both copies: nobody is left to read.
/// An unanswered upload goes with its request's expiry, or its cancellation.
async fn withdrawn_cancelled_and_expired_requests_free_the_pieces(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let c = Customer::of(&app);
    let r = files_request(&app).await;
    let u = c.send(&r.id, &[("a.txt", b"hello".to_vec())]).await;
    let res = c.answer(&r, &soc, &u, Some(&u.id)).await;
    let status_url: Value = res.json().await.unwrap();
    let token = status_url["status_url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let res = app
        .post_json(
            &format!("/api/v1/request-status/{token}/withdraw"),
            &json!({}),
        )
        .await;
    assert_eq!(res.status(), 200);
    purge(&app).await;
    assert_eq!(pieces_held(&app).await, 0, "withdrawn: nobody reads");

    let open = files_request(&app).await;
    c.send(&open.id, &[("b.txt", b"x".to_vec())]).await;
    let cancelled = files_request(&app).await;
    c.send(&cancelled.id, &[("c.txt", b"y".to_vec())]).await;
    app.store
        .cancel_request(
            &cancelled.id,
            app.clock.now(),
            &handoff::audit::NewEvent::new(
                handoff::audit::Kind::RequestCancelled,
                handoff::audit::Actor::Staff("pm".into()),
            ),
        )
        .await
        .unwrap();
    purge(&app).await;
    assert_eq!(pieces_held(&app).await, 1, "the cancelled request's went");
    app.clock.advance(86_400);
    purge(&app).await;
    assert_eq!(pieces_held(&app).await, 0, "the expired request's went");
}

/// What the answer and the creation refuse, each with a clear 4xx and
/// nothing kept.
async fn answers_and_transfers_that_do_not_fit_are_refused(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let c = Customer::of(&app);
    let r = files_request(&app).await;
    let other = files_request(&app).await;
    let theirs = c.send(&other.id, &[("x", b"x".to_vec())]).await;
    let half = c
        .declare(&r.id, &[("a", b"a".to_vec()), ("b", b"b".to_vec())])
        .await;

    let res = c.answer(&r, &soc, &theirs, None).await;
    let message = assert_error(res, 400, "invalid_field").await;
    assert!(message.contains("transfer is missing"), "{message}");
    let res = c.answer(&r, &soc, &theirs, Some(&theirs.id)).await;
    let message = assert_error(res, 400, "invalid_field").await;
    assert!(message.contains("made for this request"), "{message}");
    let res = c.answer(&r, &soc, &half, Some(&half.id)).await;
    assert_error(res, 409, "incomplete").await;
    let res = c.answer(&r, &soc, &half, Some("not an id")).await;
    assert_error(res, 400, "invalid_field").await;
    assert_eq!(
        app.store
            .request(&r.id)
            .await
            .unwrap()
            .unwrap()
            .state(app.clock.now()),
        handoff::request::RequestState::Open,
        "nothing was kept"
    );

    // A credentials request takes no transfer, and gets none.
    let creds = open_request_for(&app.store, app.clock.now(), 86_400, "o365-management").await;
    let res = c.answer(&creds, &soc, &half, Some(&half.id)).await;
    assert_error(res, 400, "invalid_field").await;
    let manifest = STANDARD.encode(encrypt(&half.identity.to_public(), b"{}"));
    let body = |request: &str| json!({"manifest": manifest, "files": [{"pieces": 1, "size": 200}], "request": request});
    assert_error(c.create(&body(&creds.id)).await, 400, "invalid_field").await;
    assert_error(
        c.create(&body("AAAAAAAAAAAAAAAAAAAAAA")).await,
        404,
        "not_found",
    )
    .await;
    let mut with_expiry = body(&r.id);
    with_expiry["expires_in"] = json!(3600);
    assert_error(c.create(&with_expiry).await, 400, "invalid_field").await;
    // Answered: no more transfers for it.
    let done = c.send(&r.id, &[("z", b"z".to_vec())]).await;
    assert_eq!(
        c.answer(&r, &soc, &done, Some(&done.id)).await.status(),
        201
    );
    assert_error(c.create(&body(&r.id)).await, 409, "already_answered").await;
}

/// The public page off: a files request's customer still uploads.
async fn a_files_request_needs_no_public_page(backend: Backend) {
    let soc = age::x25519::Identity::generate();
    let recipient = soc.to_public().to_string();
    let app = common::spawn_app_with(backend, move |mut s| {
        s.soc_recipients = vec![recipient];
        s.public_page = false;
        s.without_rate_limits()
    })
    .await;
    let c = Customer::of(&app);
    let r = files_request(&app).await;
    let u = c.send(&r.id, &[("a.txt", b"hello".to_vec())]).await;
    assert_eq!(c.answer(&r, &soc, &u, Some(&u.id)).await.status(), 201);
    let manifest = STANDARD.encode(encrypt(&u.identity.to_public(), b"{}"));
    let res = c
        .create(&json!({"manifest": manifest, "files": [{"pieces": 1, "size": 200}], "expires_in": 3600}))
        .await;
    assert_error(res, 403, "forbidden").await;
}

/// A lapsed lease taken again: the new lease's token reads, the old one
/// no longer does.
async fn a_new_lease_replaces_the_collectors_token(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let c = Customer::of(&app);
    let r = files_request(&app).await;
    let u = c.send(&r.id, &[("a.txt", b"hello".to_vec())]).await;
    assert_eq!(c.answer(&r, &soc, &u, Some(&u.id)).await.status(), 201);
    let token = common::flow::mint_token(&app, "collector", "collect").await;
    let first: Value = lease(&app, &token, &r.id).await.json().await.unwrap();
    app.clock.advance(301);
    let second: Value = lease(&app, &token, &r.id).await.json().await.unwrap();
    let (old, new) = (
        first["transfer"]["download_token"].as_str().unwrap(),
        second["transfer"]["download_token"].as_str().unwrap(),
    );
    assert_error(c.get_piece(&u.id, old, 0, 0).await, 404, "not_found").await;
    assert_eq!(c.get_piece(&u.id, new, 0, 0).await.status(), 200);
}

/// The pages of a files request: the customer's link shows the file drop
/// (request-files.js) and the transfer limit, never the credential form;
/// once answered, it says so without speaking of client secrets; the PM's
/// link carries the section its files are listed and saved in, and a
/// credentials request's does not.
async fn a_files_requests_pages_offer_files_not_credentials(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let c = Customer::of(&app);
    let r = files_request(&app).await;
    let res = app.get(&format!("/r/{}", r.id)).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    for shown in [
        "/assets/request-files.js",
        "id=\"files-form\"",
        "data-max-bytes=\"1073741824\"",
        "id=\"folder-input\"",
        "id=\"resume\"",
    ] {
        assert!(page.contains(shown), "{shown} in {page}");
    }
    for absent in ["answer-form", "client_secret", "/assets/answer.js"] {
        assert!(!page.contains(absent), "{absent} in {page}");
    }
    let res = app.get(&format!("/p/{}", r.retrieval_id)).await;
    assert!(res.text().await.unwrap().contains("id=\"file-rows\""));

    let u = c.send(&r.id, &[("a.txt", b"hello".to_vec())]).await;
    assert_eq!(c.answer(&r, &soc, &u, Some(&u.id)).await.status(), 201);
    let res = app.get(&format!("/r/{}", r.id)).await;
    assert_eq!(res.status(), 409);
    let page = res.text().await.unwrap();
    assert!(page.contains("already been answered"), "{page}");
    assert!(!page.contains("client secret"), "{page}");

    let credentials = open_request_for(&app.store, app.clock.now(), 86_400, "entra-app").await;
    let page = app
        .get(&format!("/r/{}", credentials.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("answer-form") && !page.contains("files-form"));
    let page = app
        .get(&format!("/p/{}", credentials.retrieval_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("file-rows"), "{page}");
}

with_each_backend!(
    both_readers_get_the_files_and_the_purge_waits_for_both,
    a_lapsed_grace_and_expired_copies_free_the_pieces,
    withdrawn_cancelled_and_expired_requests_free_the_pieces,
    answers_and_transfers_that_do_not_fit_are_refused,
    a_files_request_needs_no_public_page,
    a_new_lease_replaces_the_collectors_token,
    a_files_requests_pages_offer_files_not_credentials,
);

fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// `handoff collect --target dir` on a collector host: its SOC identity and
/// `collect` token in `host`, the files under `host/received`.
async fn collect_dir(base: &str, host: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let p = |n: &str| host.join(n).display().to_string();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_handoff"))
        .args(["collect", "--server", base, "--token-file", &p("token")])
        .args(["--identity", &p("soc.key"), "--target", "dir"])
        .args(["--output-dir", &p("received")])
        .args(extra)
        .env_remove("HANDOFF_SERVER")
        .output()
        .await
        .unwrap()
}

/// The real server and the real `handoff collect --target dir`: the files
/// land byte for byte (SHA-256) with mode 0600 in folders of mode 0700; a
/// file in the way is refused (nothing written, the copy left in the
/// inbox) until it is moved; and the database, its WAL and the server's log
/// hold none of the names, contents, keys or tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_collect_writes_a_files_answer_into_a_folder() {
    use std::os::unix::fs::PermissionsExt;
    let db = common::TestDb::new(Backend::Sqlite).await;
    let logs = tempfile::tempdir().unwrap();
    let soc = age::x25519::Identity::generate();
    let server = common::ServerProcess::start_with(
        db.url(),
        logs.path(),
        &["--soc-recipients", &soc.to_public().to_string()],
        &[],
    )
    .await;
    let store = handoff::store::Store::connect(db.url()).await.unwrap();
    let now = handoff::clock::Clock::system().now();
    let minted = handoff::token::mint();
    store
        .create_token(
            &handoff::store::NewToken {
                name: "collector",
                prefix: &minted.prefix,
                hash: &minted.hash,
                scopes: "collect",
                created_by: "system",
                created_at: now,
            },
            &handoff::audit::NewEvent::new(
                handoff::audit::Kind::TokenCreated,
                handoff::audit::Actor::System,
            ),
        )
        .await
        .unwrap()
        .unwrap();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(
        host.path().join("soc.key"),
        format!("{}\n", soc.to_string().expose_secret()),
    )
    .unwrap();
    let token_file = host.path().join("token");
    std::fs::write(&token_file, &minted.token).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let c = Customer {
        http: reqwest::Client::new(),
        base: server.base.clone(),
    };
    let r = open_request_for(&store, now, 86_400, "files").await;
    let big = noise(PIECE_SIZE + 4321, 11);
    let u = c
        .send(
            &r.id,
            &[
                (
                    "NAME-certs/NAME-app-key.pem",
                    b"CONTENTS-9c1e-private-key".repeat(40),
                ),
                ("NAME-export.bin", big.clone()),
            ],
        )
        .await;
    assert_eq!(c.answer(&r, &soc, &u, Some(&u.id)).await.status(), 201);

    // Files have nothing to check against Entra: said before anything is leased.
    for flag in [&["--verify"][..], &["--recheck", "1d"][..]] {
        let out = collect_dir(&server.base, host.path(), flag).await;
        assert!(!out.status.success(), "{flag:?} is refused");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("which have nothing to check"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The output folder is shared: other customers' files arrived before,
    // and the SOC keeps a hand-written file of its own there. None of it is
    // the import's business, and all of it must stay as it was.
    let shared = host.path().join("received");
    let others = [
        ("northwind-AAAAAAAAAAAAAAAAAAAAAA/vpn/site-a.ovpn", 0o600),
        ("northwind-AAAAAAAAAAAAAAAAAAAAAA/notes.txt", 0o640),
        ("README.soc.txt", 0o644),
    ];
    for (name, file_mode) in others {
        let path = shared.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("kept as it was: {name}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file_mode)).unwrap();
    }
    let before: Vec<(std::path::PathBuf, Vec<u8>, u32)> = others
        .iter()
        .map(|(name, _)| {
            let path = shared.join(name);
            (path.clone(), std::fs::read(&path).unwrap(), mode(&path))
        })
        .collect();

    let out = collect_dir(&server.base, host.path(), &["--dry-run"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("NAME-app-key.pem (1000 bytes, mode 0600)"),
        "{stdout}"
    );
    assert!(
        !shared.join(format!("contoso-{}", r.id)).exists(),
        "a dry run writes nothing"
    );

    let out = collect_dir(&server.base, host.path(), &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("1 imported"), "{stdout}");
    assert!(
        !stdout.contains("NAME-") && !stdout.contains("CONTENTS"),
        "{stdout}"
    );
    let folder = host
        .path()
        .join("received")
        .join(format!("contoso-{}", r.id));
    for (name, plain) in &u.files {
        let path = folder.join(name);
        assert_eq!(
            sha256(&std::fs::read(&path).unwrap()),
            sha256(plain),
            "{name}"
        );
        assert_eq!(mode(&path), 0o600, "{name}");
    }
    assert_eq!(mode(&folder), 0o700);
    assert_eq!(mode(&folder.join("NAME-certs")), 0o700);
    assert!(
        !std::fs::read_dir(&folder).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".handoff-part")),
        "no partial file is left"
    );
    for (path, bytes, file_mode) in &before {
        assert_eq!(&std::fs::read(path).unwrap(), bytes, "{}", path.display());
        assert_eq!(mode(path), *file_mode, "{}", path.display());
    }
    let top: std::collections::BTreeSet<String> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        top,
        [
            format!("contoso-{}", r.id),
            "README.soc.txt".to_owned(),
            "northwind-AAAAAAAAAAAAAAAAAAAAAA".to_owned()
        ]
        .into_iter()
        .collect(),
        "the import added its own folder and nothing else"
    );
    // Acknowledged: nothing left to import.
    let out = collect_dir(&server.base, host.path(), &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("0 imported"), "{stdout}");

    // A second request whose file is in the way: refused, released, kept.
    let r2 = open_request_for(&store, now, 86_400, "files").await;
    let u2 = c
        .send(&r2.id, &[("NAME-form.pdf", b"FORM-5e5e".to_vec())])
        .await;
    assert_eq!(c.answer(&r2, &soc, &u2, Some(&u2.id)).await.status(), 201);
    let folder2 = host
        .path()
        .join("received")
        .join(format!("contoso-{}", r2.id));
    std::fs::create_dir_all(&folder2).unwrap();
    std::fs::write(folder2.join("NAME-form.pdf"), b"someone else's").unwrap();
    let out = collect_dir(&server.base, host.path(), &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("exists and is not this answer's file"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(folder2.join("NAME-form.pdf")).unwrap(),
        b"someone else's"
    );
    std::fs::remove_file(folder2.join("NAME-form.pdf")).unwrap();
    let out = collect_dir(&server.base, host.path(), &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && stdout.contains("1 imported"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read(folder2.join("NAME-form.pdf")).unwrap(),
        b"FORM-5e5e"
    );
    store.close().await;

    let key = u.identity.to_string();
    let soc_key = soc.to_string();
    let needles: Vec<(&str, &[u8])> = vec![
        ("file name", b"NAME-app-key"),
        ("folder name", b"NAME-certs"),
        ("file name", b"NAME-form"),
        ("note", b"NOTE-the certificate"),
        ("contents", b"CONTENTS-9c1e"),
        ("contents", &big[1000..1064]),
        ("contents", b"FORM-5e5e"),
        ("transfer key", key.expose_secret().as_bytes()),
        ("SOC identity", soc_key.expose_secret().as_bytes()),
        ("upload token", u.upload_token.as_bytes()),
        ("API token", minted.token.as_bytes()),
    ];
    let path = db.sqlite_path().unwrap();
    let wal = path.with_extension("db-wal");
    assert!(wal.exists(), "the WAL is there to be scanned");
    for file in [path.clone(), wal, server.log.clone()] {
        let bytes = std::fs::read(&file).unwrap();
        for (what, needle) in &needles {
            let at = bytes.windows(needle.len()).position(|w| w == *needle);
            assert!(
                at.is_none(),
                "the {what} is in {}: {:?}",
                file.display(),
                at.map(
                    |at| String::from_utf8_lossy(&bytes[at.saturating_sub(200)..at + 100])
                        .into_owned()
                )
            );
        }
    }
}
