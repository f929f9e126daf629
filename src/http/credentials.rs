//! The staff's credential register (`/staff/credentials`): per customer and
//! template, the current credential's client ID, its secret's expiry and
//! days left, its last verification, the target it went to, most urgent
//! first (see [`crate::register`]).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use super::AppState;
use super::error::PageError;
use super::pages::{Frame, render};
use super::requests::template_title;
use super::staff::Staff;
use crate::clock::{rfc3339, utc_date};
use crate::register::{Reporter, current};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/staff/credentials", get(credentials_page))
}

/// One line of the register, as the page shows it.
struct Line {
    request_id: String,
    customer: String,
    template_title: String,
    client_id: String,
    /// `failing`, `expired`, `expiring`, `unknown` or `ok`.
    standing: &'static str,
    /// `YYYY-MM-DD`, or empty when unknown.
    expires_on: String,
    /// "in 12 days", "today", "3 days ago", or empty.
    days_left: String,
    /// RFC 3339 and the outcome, or empty when never verified.
    verified_at: String,
    verified: &'static str,
    verify_detail: String,
    /// The collector target, or "retrieved by the PM".
    went_to: String,
    /// The rotation request made for this credential and where it stands
    /// (`open`, `answered`, `expired`, ...), if one was made.
    rotation: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "credentials.html")]
struct CredentialsPage {
    frame: Frame,
    staff: String,
    csrf: String,
    lines: Vec<Line>,
    /// `(standing, count)` for each standing that has any.
    counts: Vec<(&'static str, usize)>,
    warning_days: i64,
}

fn days_text(days: i64) -> String {
    match days {
        0 => "today".to_owned(),
        1 => "in 1 day".to_owned(),
        -1 => "1 day ago".to_owned(),
        d if d > 0 => format!("in {d} days"),
        d => format!("{} days ago", -d),
    }
}

async fn credentials_page(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let today = utc_date(state.clock.now());
    let warning_days = state.settings.expiry_warning_days;
    let register = current(state.store.credential_entries().await?, today, warning_days);
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    for (_, standing) in &register {
        match counts.last_mut() {
            Some((s, n)) if *s == standing.as_str() => *n += 1,
            _ => counts.push((standing.as_str(), 1)),
        }
    }
    let now = state.clock.now();
    let mut rotations = Vec::with_capacity(register.len());
    for (e, _) in &register {
        rotations.push(
            state
                .store
                .rotation_of(&e.request_id)
                .await?
                .map(|r| (r.id().to_owned(), r.state(now).to_string())),
        );
    }
    let lines = register
        .into_iter()
        .zip(rotations)
        .map(|((e, standing), rotation)| Line {
            rotation,
            template_title: template_title(&state, &e.template),
            client_id: e.facts.client_id.clone(),
            standing: standing.as_str(),
            expires_on: e.facts.expires_text().unwrap_or_default(),
            days_left: e.days_left(today).map(days_text).unwrap_or_default(),
            verified_at: e.verified_at.map(rfc3339).unwrap_or_default(),
            verified: match e.verify_ok {
                Some(true) => "passed",
                Some(false) => "failed",
                None => "",
            },
            verify_detail: e.verify_detail.clone().unwrap_or_default(),
            went_to: match (e.reporter, &e.imported_to) {
                (_, Some(target)) => target.clone(),
                (Reporter::Pm, None) => "retrieved by the PM".to_owned(),
                (Reporter::Collector, None) => "the collector".to_owned(),
            },
            request_id: e.request_id,
            customer: e.customer,
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        CredentialsPage {
            frame: Frame::new(&state, &headers),
            staff: staff.name,
            csrf: staff.csrf,
            lines,
            counts,
            warning_days,
        },
    ))
}
