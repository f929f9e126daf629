//! The OpenAPI file is the truth: what the served file says of this server's
//! limits, and requests the schema allows that the server once refused.
//! (Schemathesis checks the rest: `scripts/schemathesis.sh`.)

mod common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{Backend, assert_error, some_ciphertext, spawn_app, spawn_app_with};
use handoff::expiry::ExpiryPolicy;
use serde_json::{Value, json};

/// The served file states the configured maximum `expires_in`, the
/// ciphertext's size limit, the integration templates, and (with no SOC
/// recipients) no sealed copy; the file in the repository only describes them.
#[tokio::test]
async fn the_served_file_states_this_servers_limits() {
    let app = spawn_app_with(Backend::Sqlite, |mut s| {
        s.expiry = ExpiryPolicy::new(Duration::from_secs(2 * 86_400)).unwrap();
        s.max_secret_bytes = 3000;
        s.without_rate_limits()
    })
    .await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let schemas = &doc["components"]["schemas"];
    for body in ["CreateSecret", "CreateRequest"] {
        let e = &schemas[body]["properties"]["expires_in"];
        assert_eq!(e["maximum"], 172_800, "{body}");
        assert_eq!(e["minimum"], 60, "{body}");
    }
    assert_eq!(schemas["Base64AgeFile"]["maxLength"], 4000);
    let templates = schemas["CreateRequest"]["properties"]["template"]["enum"]
        .as_array()
        .unwrap();
    assert!(
        templates.contains(&json!("o365-management")),
        "{templates:?}"
    );
    assert!(schemas["Answer"]["properties"]["sealed_ciphertext"].is_null());

    let file: Value = serde_json::from_str(handoff::http::api::OPENAPI).unwrap();
    let e = &file["components"]["schemas"]["CreateSecret"]["properties"]["expires_in"];
    assert!(
        e["maximum"].is_null(),
        "the repository's file hard-codes no maximum"
    );
}

/// JSON Schema's integer 86400 may be written 86400.0; a fraction is refused.
#[tokio::test]
async fn whole_seconds_written_with_a_fraction_are_accepted() {
    let app = spawn_app(Backend::Sqlite).await;
    let body =
        |expires_in: Value| json!({ "ciphertext": some_ciphertext(10), "expires_in": expires_in });
    let res = app
        .post_json("/api/v1/secrets", &body(json!(86_400.0)))
        .await;
    assert_eq!(res.status(), 201);
    let res = app
        .post_json("/api/v1/secrets", &body(json!(86_400.5)))
        .await;
    assert_error(res, 400, "bad_request").await;
    let res = app.post_json("/api/v1/secrets", &body(json!(1e300))).await;
    assert_error(res, 400, "bad_request").await;
}

/// Base64 whose last character sets bits beyond the data (which the schema's
/// pattern allows) decodes to the same bytes and is accepted.
#[tokio::test]
async fn base64_with_stray_trailing_bits_is_accepted() {
    let app = spawn_app(Backend::Sqlite).await;
    let padded = (0..)
        .map(some_ciphertext)
        .find(|c| c.ends_with('='))
        .unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let at = padded.trim_end_matches('=').len() - 1;
    let last = alphabet.find(padded.as_bytes()[at] as char).unwrap();
    let stray = alphabet.as_bytes()[last | 1] as char;
    let mut sloppy = padded.clone();
    sloppy.replace_range(at..=at, &stray.to_string());
    assert_ne!(sloppy, padded);
    assert!(
        STANDARD.decode(&sloppy).is_err(),
        "the strict decoder refuses it"
    );
    let res = app
        .post_json(
            "/api/v1/secrets",
            &json!({ "ciphertext": sloppy, "expires_in": 3600 }),
        )
        .await;
    assert_eq!(res.status(), 201);
}

/// The file's example ciphertext is an age file the server accepts.
#[tokio::test]
async fn the_example_ciphertext_is_accepted() {
    let app = spawn_app(Backend::Sqlite).await;
    let file: Value = serde_json::from_str(handoff::http::api::OPENAPI).unwrap();
    let example = &file["paths"]["/api/v1/secrets"]["post"]["requestBody"]["content"]["application/json"]
        ["example"];
    let res = app.post_json("/api/v1/secrets", example).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let ct = &file["components"]["schemas"]["Base64AgeFile"]["examples"][0];
    assert_eq!(ct, &example["ciphertext"]);
}

/// Every documented path answers its documented methods and 405 to the
/// others, so a method added to a documented path without documenting it
/// fails here (a wholly new path is caught by the next test). Every
/// operation also documents 431 and 500, which any request can get, and
/// every operation that takes a body 408, which a body too slow to arrive
/// gets (tests/rejections.rs).
#[tokio::test]
async fn documented_paths_answer_exactly_their_documented_methods() {
    let app = spawn_app_with(
        Backend::Sqlite,
        handoff::config::Settings::without_rate_limits,
    )
    .await;
    let file: Value = serde_json::from_str(handoff::http::api::OPENAPI).unwrap();
    let methods = ["get", "post", "put", "delete", "patch"];
    for (path, item) in file["paths"].as_object().unwrap() {
        let concrete: String = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for m in methods {
            let method = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
            let res = app
                .http
                .request(method, app.url(&concrete))
                .send()
                .await
                .unwrap();
            match item.get(m) {
                Some(op) => {
                    assert_ne!(res.status(), 405, "{m} {path}");
                    let responses = &op["responses"];
                    for status in ["431", "500"] {
                        assert!(!responses[status].is_null(), "{m} {path} lists {status}");
                    }
                    assert!(!responses["405"].is_null(), "{m} {path} lists 405");
                    if !op["requestBody"].is_null() {
                        assert!(!responses["408"].is_null(), "{m} {path} lists 408");
                    }
                }
                None => {
                    assert_eq!(res.status(), 405, "{m} {path}");
                    if path.starts_with("/api/") {
                        assert_error(res, 405, "method_not_allowed").await;
                    }
                }
            }
        }
    }
}

/// A request head over the limit gets hyper's bare 431: no `Error` body,
/// as the file says.
#[tokio::test]
async fn an_oversized_head_gets_a_bodiless_431() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app
        .http
        .get(app.url("/api/v1/secrets/x"))
        .header("x-filler", "a".repeat(64 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 431);
    assert_eq!(res.bytes().await.unwrap().len(), 0);
    let file: Value = serde_json::from_str(handoff::http::api::OPENAPI).unwrap();
    assert!(file["components"]["responses"]["HeadTooLarge"]["content"].is_null());
}

/// The `.route("/api/...", get(..).post(..))` calls in the HTTP layer's
/// source (tests left out), as (path, lower-case method) pairs, with the
/// file each was found in.
fn routes_in_source() -> Vec<(String, String, String)> {
    fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rust_files(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut routes = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let name = file.display().to_string();
        for (at, _) in code.match_indices(".route(") {
            let rest = code[at + ".route(".len()..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                panic!(
                    "{name}: a route whose path is not a string literal; this test reads literals only"
                );
            };
            let (path, rest) = rest.split_once('"').unwrap();
            // The route's handlers: up to the parenthesis closing `.route(`.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find_map(|(i, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    (depth == 0).then_some(i)
                })
                .unwrap();
            let handlers = &rest[..end];
            let mut found = false;
            for method in ["get", "post", "put", "delete", "patch"] {
                let call = format!("{method}(");
                let named = handlers.match_indices(&call).any(|(i, _)| {
                    !handlers[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_')
                });
                if named {
                    routes.push((path.to_owned(), method.to_owned(), name.clone()));
                    found = true;
                }
            }
            assert!(found, "{name}: no method found for the route {path}");
        }
    }
    routes
}

/// Every API route the source declares is documented with its method, so a
/// new `/api/` endpoint without its OpenAPI entry fails here.
#[test]
fn every_api_route_in_the_source_is_documented() {
    let file: Value = serde_json::from_str(handoff::http::api::OPENAPI).unwrap();
    let routes = routes_in_source();
    let api: Vec<_> = routes
        .iter()
        .filter(|(path, _, _)| path.starts_with("/api/") || path == "/healthz")
        .collect();
    // The scan sees the routes it must: pages and API alike.
    assert!(routes.iter().any(|(p, m, _)| p == "/r/{id}" && m == "get"));
    assert!(
        api.iter()
            .any(|(p, m, _)| p == "/api/v1/inbox/{id}/lease" && m == "post")
    );
    assert!(
        api.iter()
            .any(|(p, m, _)| p == "/api/v1/secrets" && m == "post")
    );
    let undocumented: Vec<_> = api
        .iter()
        .filter(|(path, method, _)| file["paths"][path.as_str()][method.as_str()].is_null())
        .map(|(path, method, file)| format!("{} {path} ({file})", method.to_uppercase()))
        .collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from openapi.json: {undocumented:#?}"
    );
}
