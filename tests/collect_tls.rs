//! An API target's TLS, with the real `handoff collect` binary: a platform
//! whose certificate comes from a private CA (made here, for this test) is
//! refused — with a sentence that names `--api-ca-file` — until that CA's
//! certificate is given with `--api-ca-file`; another CA's certificate does
//! not open it; a CA file that holds no certificate is refused at start,
//! before anything is leased.
//!
//! The platform is the `http` target's stand-in behind a TLS front on
//! loopback (`TlsFront`): the front ends TLS and passes the bytes on, so the
//! platform sees exactly what a platform behind a TLS terminator sees. What
//! is proven is the collector's TLS client, which has no store behind it:
//! these tests run on SQLite only (the store's part of an import is proven on
//! both databases by the targets' own tests).

mod common;
#[path = "platform/mod.rs"]
mod platform;

use std::net::SocketAddr;
use std::process::Output;
use std::sync::Arc;

use common::api_host::ApiHost;
use common::flow::{answer_with, app_with_soc, event_kinds, open_request_for};
use common::{Backend, T0, TestApp};
use platform::{Auth, Platform};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::json;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ServerConfig, crypto};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11";
const SECRET: &str = "abc8Q~collectorsecretvalue0123456789ABCD";
const PLATFORM_TOKEN: &str = "soc-platform-token-5f1d0c9e8b7a";
const BODY: &str =
    r#"{"tenantId": "{tenant_id}", "clientId": "{client_id}", "clientSecret": "{client_secret}"}"#;

/// A private certificate authority: its certificate (PEM) and what it
/// signs with.
struct PrivateCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl PrivateCa {
    fn new(name: &str) -> PrivateCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        PrivateCa {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for 127.0.0.1 and its PKCS#8 key.
    fn server_certificate(&self) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (
            cert.der().clone(),
            PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
    }
}

/// TLS on loopback in front of a plain-HTTP stand-in at `backend`, with a
/// certificate `ca` signed; each connection's bytes are passed on as they
/// are.
struct TlsFront {
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl TlsFront {
    async fn start(ca: &PrivateCa, backend: SocketAddr) -> TlsFront {
        let (cert, key) = ca.server_certificate();
        let config =
            ServerConfig::builder_with_provider(Arc::new(crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, mut stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = &mut stopped => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((stream, _)) = accepted else { continue };
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the
                    // handshake: nothing reaches the platform.
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let mut plain = tokio::net::TcpStream::connect(backend).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsFront { addr, _stop: stop }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/api/v1/integrations", self.addr.port())
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

struct Scene {
    app: TestApp,
    request_id: String,
    platform: Platform,
    front: TlsFront,
    host: ApiHost,
}

/// An answered o365-management request, the platform behind TLS from the
/// private CA `ca`, and a collector host.
async fn scene(ca: &PrivateCa) -> Scene {
    let (app, soc) = app_with_soc(Backend::Sqlite).await;
    let platform = Platform::start(Auth::Bearer(PLATFORM_TOKEN.to_owned())).await;
    let backend: SocketAddr = platform.base.trim_start_matches("http://").parse().unwrap();
    let front = TlsFront::start(ca, backend).await;
    let host = ApiHost::new(&app, &soc, "http", PLATFORM_TOKEN).await;
    host.write("body.json", BODY);
    let r = open_request_for(&app.store, T0, 86_400, "o365-management").await;
    let payload = json!({"v": 1, "template": "o365-management", "fields": {
        "tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET,
        "cloud": "commercial",
    }})
    .to_string();
    assert_eq!(
        answer_with(&app, &r, Some(&soc), &payload).await.status(),
        201
    );
    Scene {
        app,
        request_id: r.id,
        platform,
        front,
        host,
    }
}

impl Scene {
    async fn collect(&self, extra: &[&str]) -> Output {
        self.host
            .command(&self.app, &self.front.url())
            .args(["--http-body-template", &self.host.path("body.json")])
            .args(extra)
            .output()
            .await
            .unwrap()
    }

    async fn imported(&self) -> bool {
        let req = self.app.store.request(&self.request_id).await.unwrap();
        req.unwrap().imported_at.is_some()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_behind_a_private_ca_is_reached_only_with_that_cas_certificate() {
    let ca = PrivateCa::new("Contoso SOC internal CA");
    let s = scene(&ca).await;

    // Without --api-ca-file: the web roots do not know the CA.
    let out = s.collect(&[]).await;
    let said = text(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("FAILED Contoso"), "{said}");
    assert!(said.contains("certificate"), "rustls's reason: {said}");
    assert!(said.contains("--api-ca-file"), "what to do: {said}");
    assert!(!said.contains(SECRET) && !said.contains(PLATFORM_TOKEN));
    assert!(
        s.platform.received().is_empty(),
        "no byte of the request crossed an unverified connection"
    );
    assert!(!s.imported().await);
    let kinds = event_kinds(&s.app.store, &s.request_id).await;
    assert_eq!(kinds.last().map(String::as_str), Some("request.released"));

    // Another private CA's certificate does not open it either.
    let other = PrivateCa::new("Someone else's CA");
    s.host.write("other-ca.pem", &other.pem());
    let out = s
        .collect(&["--api-ca-file", &s.host.path("other-ca.pem")])
        .await;
    assert!(!out.status.success());
    assert!(text(&out.stdout).contains("certificate"));
    assert!(s.platform.received().is_empty());
    assert!(!s.imported().await);

    // With the CA's certificate: delivered, acknowledged.
    s.host.write("ca.pem", &ca.pem());
    let out = s.collect(&["--api-ca-file", &s.host.path("ca.pem")]).await;
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}\n{}", text(&out.stderr));
    assert!(said.contains("imported Contoso"), "{said}");
    let received = s.platform.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].method, "POST");
    assert!(received[0].body.contains(SECRET));
    assert!(s.imported().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_without_a_certificate_is_refused_before_anything_is_leased() {
    let ca = PrivateCa::new("Contoso SOC internal CA");
    let s = scene(&ca).await;
    let cases = [
        ("empty.pem", String::new()),
        ("key.pem", KeyPair::generate().unwrap().serialize_pem()),
        ("notes.pem", "our CA is the one in the wiki\n".to_owned()),
    ];
    for (name, content) in &cases {
        s.host.write(name, content);
        let out = s.collect(&["--api-ca-file", &s.host.path(name)]).await;
        assert!(!out.status.success(), "{name}");
        let said = text(&out.stderr);
        assert!(
            said.contains("holds no PEM certificate"),
            "{name}: {said}\n{}",
            text(&out.stdout)
        );
    }
    let out = s
        .collect(&["--api-ca-file", &s.host.path("no-such-file.pem")])
        .await;
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("cannot read --api-ca-file"));
    assert_eq!(
        event_kinds(&s.app.store, &s.request_id).await,
        ["request.created", "request.answered"],
        "nothing was leased"
    );
    assert!(s.platform.received().is_empty());
}
