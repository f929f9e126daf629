//! A local OpenID Connect provider for tests, written from OpenID Connect
//! Core 1.0 (authorization code flow, §3.1; ID token, §2; signing, §10.1)
//! and Discovery 1.0 (§4), with PKCE (RFC 7636) and client_secret_basic
//! (RFC 6749 §2.3.1). It serves:
//!
//! - `GET /.well-known/openid-configuration`: the discovery document;
//! - `GET /jwks`: the RSA public key (RS256) made when the provider starts;
//! - `GET /authorize`: checks the request and sends the browser back with
//!   a code for the person the test chose ([`Idp::sign_in_as`]), at once or
//!   from a page with a "Continue" link ([`Idp::with_screen`]);
//! - `POST /token`: checks the client's credentials, the code (once), the
//!   redirect URI and the PKCE verifier, and answers with a signed ID token.
//!
//! A test can make the next ID token wrong in one way ([`Tamper`]) to see
//! that the relying party refuses it. Nothing here is shared with the code
//! under test: the JWT is put together and signed by hand with `rsa`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

/// One way to make the next ID token wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    None,
    /// A nonce other than the one the client sent.
    WrongNonce,
    /// Issued for another client.
    WrongAudience,
    /// Expired an hour before the provider's "now".
    Expired,
    /// Signed with a key the provider does not publish (same `kid`).
    BadSignature,
}

/// Who signs in next, and how their ID token comes out.
#[derive(Clone, Debug)]
pub struct Person {
    pub sub: String,
    pub preferred_username: String,
    /// The `groups` claim; `None`: left out.
    pub groups: Option<Vec<String>>,
    /// Further claims (e.g. Entra's overage markers).
    pub extra: Map<String, Value>,
    pub tamper: Tamper,
}

impl Person {
    pub fn new(sub: &str, groups: &[&str]) -> Person {
        Person {
            sub: sub.to_owned(),
            preferred_username: format!("{sub}@soc.example"),
            groups: Some(groups.iter().map(|g| (*g).to_owned()).collect()),
            extra: Map::new(),
            tamper: Tamper::None,
        }
    }

    pub fn tampered(mut self, how: Tamper) -> Person {
        self.tamper = how;
        self
    }

    /// An Entra ID "groups overage" token: no `groups`, but `_claim_names`
    /// and `_claim_sources` pointing at Microsoft Graph, as Entra sends when
    /// a user is in more than 200 groups.
    pub fn with_overage(mut self) -> Person {
        self.groups = None;
        self.extra
            .insert("_claim_names".into(), json!({"groups": "src1"}));
        self.extra.insert(
            "_claim_sources".into(),
            json!({"src1": {"endpoint": format!("https://graph.microsoft.com/v1.0/users/{}/getMemberObjects", self.sub)}}),
        );
        self
    }
}

/// A code the provider issued and has not yet redeemed.
struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: String,
    person: Person,
}

struct Inner {
    issuer: String,
    client_id: String,
    client_secret: String,
    key: RsaPrivateKey,
    kid: String,
    /// Unix seconds the tokens are issued at.
    now: Mutex<i64>,
    next: Mutex<Option<Person>>,
    codes: Mutex<HashMap<String, Grant>>,
    /// True: `/authorize` shows a page with a "Continue" link, as a real
    /// provider's sign-in screen, so the way back is a navigation the
    /// provider's page starts; false: it redirects at once.
    screen: Mutex<bool>,
    /// Every `POST /token` form, for tests that check what the client sent.
    token_requests: Mutex<Vec<HashMap<String, String>>>,
}

/// A running provider; stops when dropped.
pub struct Idp {
    pub issuer: String,
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    _stop: oneshot::Sender<()>,
}

impl Idp {
    /// Starts a provider on a free port of 127.0.0.1, issuing tokens at
    /// `now`, for the client `client_id` / `client_secret`. Its issuer names
    /// the host `host` (`127.0.0.1` or `localhost`).
    pub async fn start(host: &str, client_id: &str, client_secret: &str, now: i64) -> Idp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let issuer = format!("http://{host}:{}", addr.port());
        let key = tokio::task::spawn_blocking(new_key).await.unwrap();
        let inner = Arc::new(Inner {
            issuer: issuer.clone(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            key,
            kid: format!("test-key-{}", addr.port()),
            now: Mutex::new(now),
            next: Mutex::new(None),
            codes: Mutex::new(HashMap::new()),
            screen: Mutex::new(false),
            token_requests: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(inner.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Idp {
            issuer,
            addr,
            inner,
            _stop: stop,
        }
    }

    /// The person the next authorization request signs in.
    pub fn sign_in_as(&self, person: Person) {
        *self.inner.next.lock().unwrap() = Some(person);
    }

    /// Shows a sign-in screen (a page with `#idp-continue`) instead of
    /// redirecting at once.
    pub fn with_screen(&self) {
        *self.inner.screen.lock().unwrap() = true;
    }

    pub fn set_now(&self, now: i64) {
        *self.inner.now.lock().unwrap() = now;
    }

    /// The forms `POST /token` received, oldest first.
    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.inner.token_requests.lock().unwrap().clone()
    }
}

fn new_key() -> RsaPrivateKey {
    RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// 128 random bits, base64url: codes and access tokens.
fn random_token() -> String {
    handoff::id::Id::random().as_str().to_owned()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({"error": error, "error_description": description})),
    )
        .into_response()
}

async fn discovery(State(s): State<Arc<Inner>>) -> Json<Value> {
    let i = &s.issuer;
    Json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username", "groups"],
    }))
}

async fn jwks(State(s): State<Arc<Inner>>) -> Json<Value> {
    let public = s.key.to_public_key();
    Json(json!({"keys": [{
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": s.kid,
        "n": b64(&public.n().to_bytes_be()),
        "e": b64(&public.e().to_bytes_be()),
    }]}))
}

async fn authorize(
    State(s): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    // Core §3.1.2.1: response_type, client_id, redirect_uri and an `openid`
    // scope are required; PKCE (RFC 7636 §4.3) with S256 is required here.
    if get("response_type") != "code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "code only",
        );
    }
    if get("client_id") != s.client_id {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "unknown client",
        );
    }
    if !get("scope").split(' ').any(|x| x == "openid") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "openid is required",
        );
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").len() < 43 {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "PKCE S256 is required",
        );
    }
    if get("state").is_empty() || get("nonce").is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "state and nonce are required here",
        );
    }
    let redirect_uri = get("redirect_uri");
    let Some(person) = s.next.lock().unwrap().clone() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "access_denied",
            "the test chose nobody",
        );
    };
    let code = random_token();
    s.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            client_id: get("client_id"),
            redirect_uri: redirect_uri.clone(),
            code_challenge: get("code_challenge"),
            nonce: get("nonce"),
            person,
        },
    );
    let mut back = reqwest::Url::parse(&redirect_uri).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &get("state"));
    if *s.screen.lock().unwrap() {
        let href = back.as_str().replace('&', "&amp;");
        return Html(format!(
            "<!doctype html><title>Test IdP</title><p>Signed in as {}.</p>\
             <p><a id=\"idp-continue\" href=\"{href}\">Continue</a></p>",
            s.next
                .lock()
                .unwrap()
                .as_ref()
                .map_or("", |p| p.sub.as_str())
        ))
        .into_response();
    }
    Redirect::to(back.as_str()).into_response()
}

async fn token(
    State(s): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    s.token_requests.lock().unwrap().push(form.clone());
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    // RFC 6749 §2.3.1: client_secret_basic.
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", s.client_id, s.client_secret))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "bad client credentials",
        );
    }
    if get("grant_type") != "authorization_code" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "code only",
        );
    }
    // A code is redeemed once (RFC 6749 §4.1.2).
    let Some(grant) = s.codes.lock().unwrap().remove(&get("code")) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "unknown or used code",
        );
    };
    if grant.client_id != s.client_id || grant.redirect_uri != get("redirect_uri") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri differs",
        );
    }
    if b64(&Sha256::digest(get("code_verifier").as_bytes())) != grant.code_challenge {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "PKCE verifier does not match",
        );
    }
    let now = *s.now.lock().unwrap();
    let p = &grant.person;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(s.issuer));
    claims.insert("sub".into(), json!(p.sub));
    claims.insert(
        "aud".into(),
        json!(if p.tamper == Tamper::WrongAudience {
            "some-other-client".to_owned()
        } else {
            s.client_id.clone()
        }),
    );
    let (iat, exp) = if p.tamper == Tamper::Expired {
        (now - 7200, now - 3600)
    } else {
        (now, now + 600)
    };
    claims.insert("iat".into(), json!(iat));
    claims.insert("exp".into(), json!(exp));
    claims.insert(
        "nonce".into(),
        json!(if p.tamper == Tamper::WrongNonce {
            "a-nonce-nobody-sent".to_owned()
        } else {
            grant.nonce.clone()
        }),
    );
    claims.insert("preferred_username".into(), json!(p.preferred_username));
    if let Some(groups) = &p.groups {
        claims.insert("groups".into(), json!(groups));
    }
    for (k, v) in &p.extra {
        claims.insert(k.clone(), v.clone());
    }
    let key = if p.tamper == Tamper::BadSignature {
        tokio::task::spawn_blocking(new_key).await.unwrap()
    } else {
        s.key.clone()
    };
    let id_token = sign(&key, &s.kid, &Value::Object(claims));
    Json(json!({
        "access_token": random_token(),
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    }))
    .into_response()
}

/// A compact JWS (RFC 7515 §7.1) with RS256 (RFC 7518 §3.3).
fn sign(key: &RsaPrivateKey, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = SigningKey::<Sha256>::new(key.clone())
        .sign(input.as_bytes())
        .to_bytes();
    format!("{input}.{}", b64(&signature))
}
