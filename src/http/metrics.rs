//! `GET /metrics`: the server's figures in the Prometheus (OpenMetrics) text
//! format, for an API token with the `metrics` scope (`handoff token create
//! --name prometheus --scope metrics`), through the `prometheus-client`
//! crate.
//!
//! - `handoff_http_requests_total{route, method, status}` and
//!   `handoff_http_request_duration_seconds{route}`: every answer, by the
//!   route's pattern (never the path, which carries ids and tokens);
//! - `handoff_secrets`, `handoff_request_copies{kind}` (PM copies and sealed
//!   copies waiting), `handoff_webhook_deliveries_pending`: read from the
//!   database at each scrape;
//! - `handoff_transfers{state}` (`uploading`, `ready`, `claimed`, zeros
//!   included) and `handoff_transfer_bytes` (ciphertext bytes of the stored
//!   file pieces): read from the database at each scrape;
//! - `handoff_requests{state}`: requests by state (`open`, `answered`, …,
//!   every state, zeros included), at each scrape: the state is a rule over a
//!   request's step times ([`Steps::state`]), so the scrape reads only those
//!   times and runs the same rule the dashboard does;
//! - `handoff_database_query_seconds`: how long that read took, the
//!   database's latency as the server sees it.
//!
//! No figure holds an id, a token, a customer label or anything a request
//! carried.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppState;
use super::error::ApiError;
use super::inbox::MetricsReader;
use crate::request::{RequestState, Steps};

/// The labels of one answered request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answered {
    route: String,
    method: String,
    status: u16,
}

/// A route's pattern.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

/// A request copy's kind (`pm` or `sealed`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CopyKind {
    kind: String,
}

/// A request's state, as the dashboard names it.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

/// How many of `requests` stand in each state at `now`, every state in the
/// order of a request's life.
fn by_state(requests: &[Steps], now: i64) -> Vec<(RequestState, i64)> {
    RequestState::IN_ORDER
        .iter()
        .map(|&s| {
            let n = requests.iter().filter(|r| r.state(now) == s).count();
            (s, i64::try_from(n).unwrap_or(i64::MAX))
        })
        .collect()
}

/// The counters the server keeps while it runs (one set per server).
#[derive(Debug)]
pub struct HttpMetrics {
    requests: Family<Answered, Counter>,
    durations: Family<Route, Histogram>,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        HttpMetrics {
            requests: Family::default(),
            // 1 ms to about 16 s.
            durations: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.001, 2.0, 15))
            }),
        }
    }
}

/// Counts every answer by route, method and status, and times it.
pub(crate) async fn record(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let res = next.run(req).await;
    let m = &state.metrics;
    m.requests
        .get_or_create(&Answered {
            route: route.clone(),
            method,
            status: res.status().as_u16(),
        })
        .inc();
    m.durations
        .get_or_create(&Route { route })
        .observe(started.elapsed().as_secs_f64());
    res
}

/// The scrape: a `metrics` token, then every figure.
pub(crate) async fn scrape(
    State(state): State<AppState>,
    _reader: MetricsReader,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let figures = state.store.gauges().await?;
    let query_seconds = started.elapsed().as_secs_f64();

    let mut registry = Registry::with_prefix("handoff");
    registry.register(
        "http_requests",
        "Answers by route pattern, method and status",
        state.metrics.requests.clone(),
    );
    registry.register(
        "http_request_duration_seconds",
        "Time to answer, by route pattern",
        state.metrics.durations.clone(),
    );
    let secrets = Gauge::<i64>::default();
    secrets.set(figures.secrets);
    registry.register(
        "secrets",
        "One-off secrets stored, not yet read or purged",
        secrets,
    );
    let copies = Family::<CopyKind, Gauge>::default();
    for (kind, n) in &figures.copies {
        copies
            .get_or_create(&CopyKind { kind: kind.clone() })
            .set(*n);
    }
    registry.register(
        "request_copies",
        "Answers' copies waiting: pm (for retrieval) and sealed (for the collector)",
        copies,
    );
    let states = Family::<StateLabel, Gauge>::default();
    for (s, n) in by_state(&figures.requests, state.clock.now()) {
        states
            .get_or_create(&StateLabel {
                state: s.as_str().to_owned(),
            })
            .set(n);
    }
    registry.register(
        "requests",
        "Requests by state (the dashboard's states), at this scrape",
        states,
    );
    let transfers = Family::<StateLabel, Gauge>::default();
    for (step, n) in &figures.transfers {
        transfers
            .get_or_create(&StateLabel {
                state: (*step).to_owned(),
            })
            .set(*n);
    }
    registry.register(
        "transfers",
        "File transfers held, by step: uploading, ready (complete, not claimed), claimed (in the download's grace)",
        transfers,
    );
    let transfer_bytes = Gauge::<i64>::default();
    transfer_bytes.set(figures.transfer_bytes);
    registry.register(
        "transfer_bytes",
        "Ciphertext bytes of the file pieces stored",
        transfer_bytes,
    );
    let pending = Gauge::<i64>::default();
    pending.set(figures.webhook_pending);
    registry.register(
        "webhook_deliveries_pending",
        "Webhook deliveries neither delivered nor given up",
        pending,
    );
    let latency = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    latency.set(query_seconds);
    registry.register(
        "database_query_seconds",
        "How long this scrape's database read took",
        latency,
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            super::error::Code::Internal,
            "The figures could not be written.",
        )
    })?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}
