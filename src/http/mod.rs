//! The web layer: the JSON API, the pages, the embedded assets, and the
//! middleware every response passes through (security headers, rate limits,
//! request logging that never records a path's secrets), and the accept loop
//! that keeps clients from holding connections ([`connections`]).

pub mod api;
pub(crate) mod assets;
pub mod client_ip;
pub mod connections;
pub(crate) mod credentials;
pub(crate) mod dashboard;
pub(crate) mod error;
pub(crate) mod inbox;
pub(crate) mod metrics;
pub(crate) mod pages;
pub(crate) mod requests;
pub(crate) mod security;
pub mod staff;
pub(crate) mod transfer_pages;
pub(crate) mod transfers;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::HttpBody;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::clock::Clock;
use crate::config::Settings;
use crate::store::Store;
use error::{ApiError, Code};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub clock: Clock,
    pub settings: Arc<Settings>,
    /// The answers counted since start, for `GET /metrics`.
    pub metrics: Arc<metrics::HttpMetrics>,
}

/// The whole application as one router.
pub(crate) fn router(state: AppState) -> Router {
    // Base64 is 4 characters per 3 bytes; the rest of the JSON is small.
    let body_limit = state.settings.max_secret_bytes.div_ceil(3) * 4 + 4096;
    let create = if state.settings.public_page {
        rate_limited(
            Router::new()
                .route("/api/v1/secrets", axum::routing::post(api::create_secret))
                .layer(DefaultBodyLimit::max(body_limit)),
            &state.settings,
            state.settings.create_limit,
        )
    } else {
        Router::new().route(
            "/api/v1/secrets",
            axum::routing::post(staff::public_api_off),
        )
    };
    let reveal = rate_limited(
        Router::new().route(
            "/api/v1/secrets/{id}/reveal",
            axum::routing::post(api::reveal_secret),
        ),
        &state.settings,
        state.settings.reveal_limit,
    );
    // Also without the public page: a files request's customer creates one.
    let transfer_create = rate_limited(
        Router::new()
            .route("/api/v1/transfers", axum::routing::post(transfers::create))
            .layer(DefaultBodyLimit::max(transfers::CREATE_BODY_MAX)),
        &state.settings,
        state.settings.create_limit,
    );
    let transfer_claim = rate_limited(
        Router::new().route(
            "/api/v1/transfers/{id}/claim",
            axum::routing::post(transfers::claim),
        ),
        &state.settings,
        state.settings.reveal_limit,
    );
    // Answers carry two ciphertexts.
    let answer_limit = 2 * body_limit;
    let request_posts = rate_limited(
        requests::limited_router().layer(DefaultBodyLimit::max(answer_limit)),
        &state.settings,
        state.settings.reveal_limit,
    );
    let login = limited(
        staff::login_router().layer(DefaultBodyLimit::max(16 * 1024)),
        &state.settings,
        state.settings.login_limit,
        &[Method::POST],
        staff::too_many_logins,
    );
    let oidc = limited(
        staff::oidc_router(),
        &state.settings,
        state.settings.login_limit,
        &[Method::GET],
        staff::too_many_logins,
    );
    let inbox = limited(
        inbox::router(),
        &state.settings,
        state.settings.inbox_limit,
        &[Method::GET, Method::POST],
        json_too_many,
    );
    Router::new()
        .merge(create)
        .merge(reveal)
        .merge(transfer_create)
        .merge(transfer_claim)
        .merge(transfers::router())
        .merge(request_posts)
        .merge(requests::router())
        .merge(login)
        .merge(oidc)
        .merge(staff::router())
        .merge(dashboard::router())
        .merge(credentials::router())
        .route("/metrics", axum::routing::get(metrics::scrape))
        .merge(inbox)
        .merge(api::router())
        .merge(pages::router())
        .merge(transfer_pages::router())
        .merge(assets::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::refuse_cross_site_writes,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), time_limit))
        .layer(middleware::from_fn(error::answer_in_kind))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Internal,
                "Something went wrong on the server.",
            )
            .into_response()
        }))
        // Outermost, so that every answer, refusals and failures included, carries them.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::headers,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            metrics::record,
        ))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The route's pattern, never the path: paths carry ids and status tokens.
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or_else(|| "(unmatched)".to_owned(), |p| p.as_str().to_owned());
            let id = req
                .extensions()
                .get::<RequestId>()
                .map_or("", |id| id.0.as_str());
            tracing::info_span!("request", request_id = %id, method = %req.method(), route = %route)
        }))
        // Outside the trace span, which records it.
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// This request's id: 128 random bits ([`Id`](crate::id::Id)), in the
/// span of every log line it causes and in the `X-Request-Id` of its answer,
/// so that an operator can find a user's request in the log. Always made
/// here: a client's own `X-Request-Id` is dropped, so nothing a client
/// sends is written into the log this way.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

async fn request_id(mut req: Request, next: middleware::Next) -> Response {
    let id = crate::id::Id::random().to_string();
    req.headers_mut().remove("x-request-id");
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.run(req).await;
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", value);
    }
    res
}

/// Adds a per-client limit of `per_minute` POSTs to `routes` (none if 0).
fn rate_limited(
    routes: Router<AppState>,
    settings: &Settings,
    per_minute: u32,
) -> Router<AppState> {
    limited(routes, settings, per_minute, &[Method::POST], json_too_many)
}

/// A JSON 429 with `Retry-After`.
fn json_too_many(wait: u64) -> Response {
    let mut res = ApiError::rate_limited(wait).into_response();
    res.headers_mut()
        .insert(axum::http::header::RETRY_AFTER, wait.into());
    res
}

/// [`rate_limited`] with its own 429 answer, made from the seconds to wait.
fn limited(
    routes: Router<AppState>,
    settings: &Settings,
    per_minute: u32,
    methods: &[Method],
    too_many: fn(u64) -> Response,
) -> Router<AppState> {
    if per_minute == 0 {
        return routes;
    }
    let config = GovernorConfigBuilder::default()
        .key_extractor(settings.trusted_proxies.clone())
        .period(Duration::from_millis(
            (60_000 / u64::from(per_minute)).max(1),
        ))
        .burst_size(per_minute)
        .methods(methods.to_vec())
        .finish();
    let Some(config) = config else { return routes };
    let limiter = config.limiter().clone();
    // Forget idle clients now and then, so the table does not grow without bound.
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.retain_recent();
        }
    });
    routes.layer(GovernorLayer::new(config).error_handler(move |e| match e {
        tower_governor::GovernorError::TooManyRequests { wait_time, .. } => {
            too_many(wait_time.max(1))
        }
        _ => ApiError::bad_request("The client address could not be determined.").into_response(),
    }))
}

async fn not_found(State(state): State<AppState>, req: Request) -> Response {
    if req.uri().path().starts_with("/api/") {
        ApiError::new(
            StatusCode::NOT_FOUND,
            Code::NotFound,
            "There is no such API endpoint.",
        )
        .into_response()
    } else {
        pages::not_found_page(&state, req.headers())
    }
}

/// No request may hold a connection and a database slot for long
/// (`Settings::request_timeout`). When the time runs out while the body is
/// still arriving, the client was slow: 408. Otherwise the server was: 503.
async fn time_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let (parts, body) = req.into_parts();
    let body = ReadTracked::new(body);
    let progress = body.progress.clone();
    let req = Request::from_parts(parts, axum::body::Body::new(body));
    match tokio::time::timeout(state.settings.request_timeout, next.run(req)).await {
        Ok(res) => res,
        Err(_) if progress.load(Ordering::Acquire) == BODY_ARRIVING => {
            let mut res = ApiError::request_timeout().for_route(&path);
            res.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            res
        }
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Timeout,
            "The server took too long to answer; nothing was revealed. Try again.",
        )
        .for_route(&path),
    }
}

/// Nobody has asked for the body yet.
const BODY_UNREAD: u8 = 0;
/// The handler is reading the body and its end has not arrived.
const BODY_ARRIVING: u8 = 1;
/// The body has been read to its end (or had none).
const BODY_READ: u8 = 2;

/// A request body that records how far it has been read, so that a timeout
/// can tell a slow client from a slow server.
struct ReadTracked {
    inner: axum::body::Body,
    progress: Arc<AtomicU8>,
}

impl ReadTracked {
    fn new(inner: axum::body::Body) -> ReadTracked {
        let start = if HttpBody::is_end_stream(&inner) {
            BODY_READ
        } else {
            BODY_UNREAD
        };
        ReadTracked {
            inner,
            progress: Arc::new(AtomicU8::new(start)),
        }
    }
}

impl HttpBody for ReadTracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let now = match &polled {
            Poll::Ready(None | Some(Err(_))) => BODY_READ,
            _ if self.inner.is_end_stream() => BODY_READ,
            _ => BODY_ARRIVING,
        };
        self.progress.fetch_max(now, Ordering::AcqRel);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

async fn method_not_allowed(req: Request) -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::MethodNotAllowed,
        "This endpoint does not accept that method.",
    )
    .for_route(req.uri().path())
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes the
/// requests under way, with the connection limits of its settings (see
/// [`connections`]). [`crate::server::Server::serve`] runs it, with the
/// database and the background tasks around it.
pub(crate) async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.settings.connections;
    connections::serve(listener, router(state), limits, shutdown).await
}
