//! Who runs the instance (`--brand-*`), as a customer sees it: the SOC's
//! name and logo in every page's header, its contact in the footer, its
//! accent in a stylesheet of its own (the CSP allows no inline style); the
//! logo served with the type its bytes showed. Without branding, handoff's
//! own header and no logo. The pages have no store behaviour of their own,
//! so this runs on SQLite only.

mod common;

use std::sync::Arc;

use common::flow::open_request;
use common::{Backend, T0, spawn_app, spawn_app_with};
use handoff::brand::{Accent, Brand, Logo};

const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#0b5cad"/></svg>"##;

fn contoso() -> Brand {
    Brand {
        name: "Contoso SOC".to_owned(),
        logo: Some(Logo::from_bytes(SVG.as_bytes().to_vec()).unwrap()),
        email: Some("soc@contoso.example".to_owned()),
        phone: Some("+44 20 7946 0000".to_owned()),
        url: Some("https://soc.contoso.example".to_owned()),
        accent: Some(Accent::parse("#6b2fa0").unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_says_who_runs_the_instance() {
    let app = spawn_app_with(Backend::Sqlite, |mut s| {
        s.brand = Some(Arc::new(contoso()));
        s
    })
    .await;
    let request = open_request(&app.store, T0, 86_400).await;
    for path in [
        "/",
        &format!("/r/{}", request.id),
        "/login",
        "/no/such/page",
    ] {
        let page = app.get(path).await.text().await.unwrap();
        assert!(
            page.contains(r#"<img src="/brand/logo" alt="" class="logo">Contoso SOC</span>"#),
            "{path}: {page}"
        );
        assert!(
            page.contains("This service is run by <strong>Contoso SOC</strong>"),
            "{path}"
        );
        for contact in [
            r#"<a href="mailto:soc@contoso.example">soc@contoso.example</a>"#,
            r#"<a href="tel:+442079460000">+44 20 7946 0000</a>"#,
            r#"<a href="https://soc.contoso.example" rel="noopener">"#,
        ] {
            assert!(page.contains(contact), "{path}: {contact}");
        }
        assert!(
            page.contains(r#"<link rel="stylesheet" href="/brand/theme.css">"#),
            "{path}"
        );
    }

    let logo = app.get("/brand/logo").await;
    assert_eq!(logo.status(), 200);
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    assert_eq!(logo.headers()["x-content-type-options"], "nosniff");
    assert!(
        logo.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"),
        "an SVG opened on its own runs no inline script"
    );
    assert_eq!(logo.text().await.unwrap(), SVG);

    let theme = app.get("/brand/theme.css").await;
    assert_eq!(theme.headers()["content-type"], "text/css; charset=utf-8");
    let css = theme.text().await.unwrap();
    assert!(
        css.contains("--accent: #6b2fa0; --accent-hover: #5a2788;"),
        "{css}"
    );
    assert!(css.contains("prefers-color-scheme: light"), "{css}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_branding_the_pages_are_handoffs_own() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = app.get("/").await.text().await.unwrap();
    assert!(page.contains(r#"<a class="brand" href="/">handoff</a>"#));
    assert!(!page.contains("This service is run by"));
    assert!(!page.contains("/brand/theme.css"));
    assert_eq!(app.get("/brand/logo").await.status(), 404);
    assert_eq!(app.get("/brand/theme.css").await.text().await.unwrap(), "");
}
