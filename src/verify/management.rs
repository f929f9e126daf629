//! Starting the Office 365 Management API subscriptions a template reads:
//! no content flows before that.

use reqwest::Url;
use serde::Deserialize;

use super::endpoints::{CloudEndpoints, join};
use super::explain::describe;
use super::{Failure, REQUEST_TIMEOUT, Step, Subscriptions, excerpt, unreachable_failure};
use crate::cloud::Cloud;

/// A Management API error body: `{"error":{"code":"AF…","message":"…"}}`.
#[derive(Deserialize)]
struct ManagementError {
    error: ManagementErrorInner,
}

#[derive(Deserialize)]
struct ManagementErrorInner {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// The API's display name, as failures name it.
const MANAGEMENT_API: &str = "Office 365 Management APIs";

/// Starts each of `content_types` for `tenant`, recording what was started
/// and what already was in `subs`; stops at the first refusal.
pub(super) async fn start_all(
    client: &reqwest::Client,
    hosts: &CloudEndpoints,
    cloud: Cloud,
    tenant: &str,
    token: Option<&str>,
    content_types: &[String],
    subs: &mut Subscriptions,
) -> Result<(), Failure> {
    let Some(manage) = &hosts.manage else {
        return Err(Failure::new(
            Step::Subscription,
            Some(MANAGEMENT_API),
            format!(
                "The Office 365 Management API's host in the {cloud} cloud is not known, so its subscriptions cannot be started from here."
            ),
        ));
    };
    let Some(token) = token else {
        return Err(Failure::new(
            Step::Subscription,
            Some(MANAGEMENT_API),
            "The template lists Management API content types but no Office 365 Management APIs permission, so no token can start them; fix the template.",
        ));
    };
    for ct in content_types {
        match start_one(client, manage, tenant, token, ct).await? {
            Started::Now => subs.started.push(ct.clone()),
            Started::Before => subs.already_enabled.push(ct.clone()),
        }
    }
    Ok(())
}

/// How a subscription came to be on.
enum Started {
    Now,
    Before,
}

/// Starts the subscription to one content type.
async fn start_one(
    client: &reqwest::Client,
    manage: &Url,
    tenant: &str,
    token: &str,
    content_type: &str,
) -> Result<Started, Failure> {
    let mut url = join(
        manage,
        &[
            "api",
            "v1.0",
            tenant,
            "activity",
            "feed",
            "subscriptions",
            "start",
        ],
    );
    url.query_pairs_mut()
        .append_pair("contentType", content_type);
    let what = "the Office 365 Management API";
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(&serde_json::json!({}))
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| with_api(unreachable_failure(Step::Subscription, what, manage, &e)))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| with_api(unreachable_failure(Step::Subscription, what, manage, &e)))?;
    if status.is_success() {
        return Ok(Started::Now);
    }
    let err = serde_json::from_str::<ManagementError>(&body)
        .ok()
        .map(|e| e.error);
    let code = err
        .as_ref()
        .and_then(|e| e.code.clone())
        .filter(|c| !c.is_empty());
    if code.as_deref() == Some("AF20024") {
        return Ok(Started::Before);
    }
    let detail = err
        .as_ref()
        .and_then(|e| e.message.as_deref())
        .or(Some(body.as_str()))
        .and_then(|m| excerpt(m, token));
    let message = match &code {
        Some(code) => format!("{content_type}: {}", describe(code)),
        None => format!(
            "{content_type}: the Management API answered HTTP {} without an error code.",
            status.as_u16()
        ),
    };
    Err(Failure {
        code,
        detail,
        status: Some(status.as_u16()),
        transient: super::is_unavailable(status),
        ..Failure::new(Step::Subscription, Some(MANAGEMENT_API), message)
    })
}

/// `f`, naming the Management API as the API that failed.
fn with_api(mut f: Failure) -> Failure {
    f.api = Some(MANAGEMENT_API.to_owned());
    f
}
