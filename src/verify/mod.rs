//! `handoff collect --verify`: does a credential actually work?
//!
//! For each API an integration template needs, the collector asks Entra ID
//! for an app-only token (the client-credentials grant) on the credential's
//! cloud, reads the token's `roles` and `tid` claims, and compares them with
//! the template's permissions and the tenant the customer named. Optionally
//! it starts the Office 365 Management API subscriptions the template needs,
//! since no content flows before that.
//!
//! Whatever goes wrong ends as one [`Failure`]: the step, the Entra or
//! Management API code, and a plain sentence telling the PM what to ask the
//! customer for ([`explain()`]). The [`Report`] is sent to the server, so it
//! carries neither the secret nor the access token.
//!
//! The login, Graph and Management hosts default to Microsoft's per cloud
//! ([`Endpoints::microsoft`]) and can be pointed elsewhere
//! (`handoff collect --login-host` and its siblings), which is how the
//! tests use a local stand-in.
//!
//! This file is the check itself and what it reports; beside it,
//! [`endpoints`] holds the hosts per cloud, [`token`] the token request
//! and Entra ID's errors, [`claims`] reads the token, [`management`]
//! starts the subscriptions, and [`explain`](mod@explain) is the catalogue
//! of sentences for error codes.

use std::time::Duration;

use reqwest::Url;
use serde::Serialize;

use crate::credential::is_guid;
use crate::integration::{Integration, MANAGEMENT_APP_ID};
use crate::payload::EntraCredential;

mod claims;
mod endpoints;
mod explain;
mod management;
mod token;

use claims::read_claims;
pub use endpoints::{CloudEndpoints, Endpoints, parse_base_url};
pub use explain::{explain, recheck_cause};
use management::start_all;
use token::request_token;

/// How long one request to Entra or the Management API may take; a hung
/// connection must not stall `handoff collect` forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest server error text copied into a report.
const DETAIL_MAX_CHARS: usize = 400;

/// The outcome of checking one credential.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Every API gave a token with every required role, for the right
    /// tenant, and the subscriptions (if asked for) are on.
    pub ok: bool,
    pub(crate) template: String,
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    pub(crate) cloud: String,
    /// One entry per API the template needs, in the template's order.
    pub apis: Vec<ApiResult>,
    /// `None` unless subscriptions were to be started and the template has
    /// content types.
    pub subscriptions: Option<Subscriptions>,
    /// The first thing that went wrong.
    pub failure: Option<Failure>,
    /// Plain sentences about what is missing but does not fail the check:
    /// one per optional permission the token lacks.
    pub warnings: Vec<String>,
}

/// What one API's token said about the app's permissions.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiResult {
    /// The API's display name ("Microsoft Graph").
    pub api: String,
    pub(crate) api_app_id: String,
    /// The `.default` scope asked for; `None` when the cloud has none.
    pub scope: Option<String>,
    /// The token's `roles`; `None` when no token was obtained.
    pub roles_found: Option<Vec<String>>,
    /// The template's permissions on this API that the check requires.
    pub roles_required: Vec<String>,
    /// The template's optional permissions on this API: missing ones are
    /// warnings.
    pub roles_optional: Vec<String>,
    /// Required roles absent from the token (empty when none was obtained).
    pub missing: Vec<String>,
    /// Optional roles absent from the token (empty when none was obtained).
    pub missing_optional: Vec<String>,
}

/// Management API subscriptions, by content type.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Subscriptions {
    pub started: Vec<String>,
    /// Already enabled before (AF20024): as good as started.
    pub already_enabled: Vec<String>,
}

/// Which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// The template does not work in the credential's cloud (or the cloud
    /// is unknown): nothing was asked of Entra ID.
    Cloud,
    /// No token: the sign-in itself failed, or could not be attempted.
    Token,
    /// A token, but without every required permission.
    Roles,
    /// A token from a tenant other than the one named.
    Tenant,
    /// Starting a Management API subscription failed.
    Subscription,
}

/// Why a credential did not pass, for the PM.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    pub step: Step,
    /// The API being checked, by display name.
    pub api: Option<String>,
    /// `AADSTS…` (Entra ID) or `AF…` (Management API), when the server gave one.
    pub code: Option<String>,
    /// One plain sentence: what went wrong and what to ask the customer for.
    pub message: String,
    /// The server's own words (first line, trimmed), with nothing secret.
    pub detail: Option<String>,
    /// The HTTP status of the failing answer, if there was one.
    pub status: Option<u16>,
    /// The check could not be made now, and says nothing against the
    /// credential: the collector host could not reach the service, or the
    /// service answered that it is unavailable (5xx, 429). The collector
    /// tries again later instead of blaming the customer.
    pub transient: bool,
}

impl Failure {
    fn new(step: Step, api: Option<&str>, message: impl Into<String>) -> Failure {
        Failure {
            step,
            api: api.map(str::to_owned),
            code: None,
            message: message.into(),
            detail: None,
            status: None,
            transient: false,
        }
    }
}

/// Checks `cred` against Entra ID for what `integration` needs, and starts
/// its Management API subscriptions if `start_subscriptions`. Never fails:
/// every problem, including an unreachable host, ends up in the report.
pub async fn verify(
    client: &reqwest::Client,
    endpoints: &Endpoints,
    cred: &EntraCredential,
    integration: &Integration,
    start_subscriptions: bool,
) -> Report {
    let mut report = new_report(cred, integration);
    report.failure = check(
        client,
        endpoints,
        cred,
        integration,
        start_subscriptions,
        &mut report,
    )
    .await
    .err();
    report.ok = report.failure.is_none();
    report
}

/// Whether `cred` still works, for `handoff collect --recheck`: one token
/// request, for the first API the template needs, whose roles and tenant
/// are compared as [`verify`] does; nothing else is asked of Microsoft (no
/// subscription is started, no log data read). Never fails: every problem
/// ends up in the report; [`recheck_cause`] turns its failure into words
/// for a credential that used to work.
pub async fn recheck(
    client: &reqwest::Client,
    endpoints: &Endpoints,
    cred: &EntraCredential,
    integration: &Integration,
) -> Report {
    let mut report = new_report(cred, integration);
    report.apis.truncate(1);
    report.failure = check(client, endpoints, cred, integration, false, &mut report)
        .await
        .err();
    report.ok = report.failure.is_none();
    report
}

/// The report before any check: one entry per API the template needs.
fn new_report(cred: &EntraCredential, integration: &Integration) -> Report {
    Report {
        ok: false,
        template: integration.id.clone(),
        tenant_id: cred.tenant_id.clone(),
        client_id: cred.client_id.clone(),
        cloud: cred.cloud.as_str().to_owned(),
        apis: integration
            .permissions_by_api()
            .into_iter()
            .map(|(api, api_app_id, perms)| ApiResult {
                api: api.to_owned(),
                api_app_id: api_app_id.to_owned(),
                scope: integration
                    .tokens
                    .iter()
                    .find(|t| t.api_app_id.eq_ignore_ascii_case(api_app_id))
                    .and_then(|t| t.scope(cred.cloud))
                    .map(str::to_owned),
                roles_found: None,
                roles_required: perms
                    .iter()
                    .filter(|p| !p.optional)
                    .map(|p| p.name.clone())
                    .collect(),
                roles_optional: perms
                    .iter()
                    .filter(|p| p.optional)
                    .map(|p| p.name.clone())
                    .collect(),
                missing: Vec::new(),
                missing_optional: Vec::new(),
            })
            .collect(),
        subscriptions: None,
        failure: None,
        warnings: Vec::new(),
    }
}

async fn check(
    client: &reqwest::Client,
    endpoints: &Endpoints,
    cred: &EntraCredential,
    integration: &Integration,
    start_subscriptions: bool,
    report: &mut Report,
) -> Result<(), Failure> {
    let hosts = endpoints.for_cloud(cred.cloud);
    // Refuse up front rather than half-way, and never green: a template in
    // a cloud where what it reads does not exist would verify (the token
    // request works) and then collect nothing.
    if let Some(why) = integration.cloud_refusal(cred.cloud) {
        return Err(Failure::new(
            Step::Cloud,
            None,
            format!(
                "The {} template does not work in the {} cloud: {why}. It works in {}; confirm the customer's cloud, and if {} is right, collect this tenant with a template made for it.",
                integration.id,
                cred.cloud,
                integration.cloud_names(),
                cred.cloud
            ),
        ));
    }
    if let Some(api) = report.apis.iter().find(|a| a.scope.is_none()) {
        return Err(Failure::new(
            Step::Cloud,
            Some(&api.api),
            format!(
                "The {} API is not known to exist in the {} cloud, so this template cannot be used there; check with the customer which cloud their tenant is in.",
                api.api, cred.cloud
            ),
        ));
    }

    let mut first_roles_failure = None;
    let mut tenant_guid = None;
    let mut management_token = None;
    for i in 0..report.apis.len() {
        let api = report.apis[i].api.clone();
        let scope = report.apis[i].scope.clone().unwrap_or_default();
        let token = request_token(client, &hosts.login, cred, &scope)
            .await
            .map_err(|mut f| {
                f.api = Some(api.clone());
                f
            })?;
        let claims = read_claims(&token).map_err(|e| {
            Failure::new(
                Step::Token,
                Some(&api),
                format!("The sign-in service answered with an access token that cannot be read ({e}); check that the login host is Microsoft's."),
            )
        })?;
        check_tenant(&cred.tenant_id, claims.tid.as_deref(), &api)?;
        tenant_guid = claims.tid.clone();

        let result = &mut report.apis[i];
        let absent = |wanted: &[String]| -> Vec<String> {
            wanted
                .iter()
                .filter(|r| !claims.roles.contains(r))
                .cloned()
                .collect()
        };
        result.missing = absent(&result.roles_required);
        result.missing_optional = absent(&result.roles_optional);
        if !result.missing.is_empty() && first_roles_failure.is_none() {
            first_roles_failure = Some(roles_failure(result, &claims.roles));
        }
        for name in &result.missing_optional {
            report
                .warnings
                .push(optional_warning(integration, &result.api, name));
        }
        result.roles_found = Some(claims.roles);
        if result.api_app_id.eq_ignore_ascii_case(MANAGEMENT_APP_ID) {
            management_token = Some(token);
        }
    }
    if let Some(f) = first_roles_failure {
        return Err(f);
    }

    if !start_subscriptions || integration.collect.content_types.is_empty() {
        return Ok(());
    }
    let mut subs = Subscriptions::default();
    let result = start_all(
        client,
        hosts,
        cred.cloud,
        tenant_guid.as_deref().unwrap_or(&cred.tenant_id),
        management_token.as_deref(),
        &integration.collect.content_types,
        &mut subs,
    )
    .await;
    report.subscriptions = Some(subs);
    result
}

fn optional_warning(integration: &Integration, api: &str, name: &str) -> String {
    let purpose = integration
        .permissions
        .iter()
        .find(|p| p.name == name)
        .map(|p| format!(" It is for this: {}", p.reason))
        .unwrap_or_default();
    format!(
        "The app lacks {name} on {api}, which this template marks optional: the rest works, and the SOC goes without what it is for until the customer adds it as an Application permission and grants admin consent.{purpose}"
    )
}

fn roles_failure(result: &ApiResult, found: &[String]) -> Failure {
    let missing = result.missing.join(", ");
    let message = if found.is_empty() {
        format!(
            "The app has no consented application permission on {}: ask the customer to add {missing} as Application permissions (not Delegated) and to grant admin consent.",
            result.api
        )
    } else {
        format!(
            "The app lacks {missing} on {}: ask the customer to add it as an Application permission (not Delegated) and to grant admin consent.",
            result.api
        )
    };
    Failure::new(Step::Roles, Some(&result.api), message)
}

fn check_tenant(named: &str, tid: Option<&str>, api: &str) -> Result<(), Failure> {
    let Some(tid) = tid else {
        return Err(Failure::new(
            Step::Tenant,
            Some(api),
            "The access token names no tenant (no tid claim); check that the login host is Microsoft's.",
        ));
    };
    if named.eq_ignore_ascii_case(tid) {
        return Ok(());
    }
    let message = if is_guid(named) {
        format!(
            "The token was issued by tenant {tid}, not by the tenant the customer named ({named}): ask the customer for the Directory (tenant) ID shown on the app's Overview page."
        )
    } else {
        format!(
            "The customer gave the tenant as a name ({named}); it signs in as tenant {tid}, and collectors need that ID: ask the customer to confirm {tid} is their Directory (tenant) ID."
        )
    };
    Err(Failure::new(Step::Tenant, Some(api), message))
}

/// The first line of a server's message, trimmed, capped, and with the
/// secret blanked out should a server ever echo it.
fn excerpt(text: &str, secret: &str) -> Option<String> {
    let first = text
        .split(['\r', '\n'])
        .next()
        .unwrap_or_default()
        .split(" Trace ID:")
        .next()
        .unwrap_or_default()
        .trim();
    let mut out: String = first
        .chars()
        .filter(|c| !c.is_control())
        .take(DETAIL_MAX_CHARS)
        .collect();
    if !secret.is_empty() {
        out = out.replace(secret, "[secret]");
    }
    (!out.is_empty()).then_some(out)
}

/// A status that says the service cannot answer now (an outage, 5xx, or
/// throttling, 429), not that the credential is wrong.
fn is_unavailable(status: reqwest::StatusCode) -> bool {
    status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS
}

/// Could not reach `what` at `base`: the collector host's network, not the
/// customer's credential.
fn unreachable_failure(step: Step, what: &str, base: &Url, e: &reqwest::Error) -> Failure {
    let host = base.host_str().unwrap_or("the host");
    let why = if e.is_timeout() {
        "it did not answer in time".to_owned()
    } else if e.is_connect() {
        "the connection failed".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut failure = Failure::new(
        step,
        None,
        format!(
            "Could not reach {what} at {host} ({why}); this is the collector host's network (DNS, proxy or firewall), not the customer's credential."
        ),
    );
    failure.detail = Some(error_chain(e));
    failure.transient = true;
    failure
}

/// The error and its causes in one line; reqwest's own message names only
/// the URL, which holds no secret.
fn error_chain(e: &reqwest::Error) -> String {
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out.chars().take(DETAIL_MAX_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_keeps_the_first_line_and_blanks_the_secret() {
        let d = "AADSTS7000215: Invalid client secret provided. Got s3cr3t.\r\nTrace ID: 1\r\nCorrelation ID: 2";
        assert_eq!(
            excerpt(d, "s3cr3t").as_deref(),
            Some("AADSTS7000215: Invalid client secret provided. Got [secret].")
        );
        assert_eq!(excerpt("A. Trace ID: x", "").as_deref(), Some("A."));
        assert_eq!(excerpt("  \r\n", "x"), None);
        assert_eq!(
            excerpt(&"x".repeat(5000), "").map(|s| s.len()),
            Some(DETAIL_MAX_CHARS)
        );
    }

    #[test]
    fn a_name_for_the_tenant_is_answered_with_its_id() {
        let guid = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        assert!(check_tenant(guid, Some(&guid.to_uppercase()), "x").is_ok());
        let f = check_tenant("contoso.onmicrosoft.com", Some(guid), "x").unwrap_err();
        assert_eq!(f.step, Step::Tenant);
        assert!(f.message.contains(guid), "{}", f.message);
        let f = check_tenant(guid, None, "x").unwrap_err();
        assert!(f.message.contains("no tid"));
    }
}
