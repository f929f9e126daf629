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
//! customer for ([`explain`]). The [`Report`] is sent to the server, so it
//! carries neither the secret nor the access token.
//!
//! The login, Graph and Management hosts default to Microsoft's per cloud
//! ([`Endpoints::microsoft`]) and can be pointed elsewhere
//! ([`VerifyArgs`]), which is how the tests use a local stand-in.

use std::time::Duration;

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

use crate::cloud::Cloud;
use crate::credential::is_guid;
use crate::integration::Integration;
use crate::payload::EntraCredential;

/// The Office 365 Management APIs' application id: its token is the one
/// that starts subscriptions.
pub const MANAGEMENT_API_APP_ID: &str = crate::integration::MANAGEMENT_APP_ID;

/// How long one request to Entra or the Management API may take; a hung
/// connection must not stall `handoff collect` forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest server error text copied into a report.
const DETAIL_MAX_CHARS: usize = 400;

/// The hosts of one cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudEndpoints {
    /// Entra ID's token service.
    pub login: Url,
    /// Microsoft Graph. Verification does not call it (the token request
    /// names Graph through the template's scope); kept so that collectors
    /// and later checks find every host of a cloud in one place.
    pub graph: Url,
    /// The Office 365 Management API; `None` where its host is not known.
    pub manage: Option<Url>,
}

/// Where each cloud's services are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// One per cloud, in [`Cloud::ALL`]'s order; [`Endpoints::for_cloud`]
    /// picks one.
    clouds: [CloudEndpoints; Cloud::ALL.len()],
}

/// A base URL from [`Cloud`]'s host table; every one is checked by a unit test.
fn known(url: &str) -> Url {
    // The arguments are the table's URLs, which `microsoft_hosts_parse`
    // checks on every build: this cannot fail at run time.
    Url::parse(url).expect("a built-in host URL is valid")
}

impl Endpoints {
    /// Microsoft's hosts, from [`Cloud`]'s table.
    pub fn microsoft() -> Endpoints {
        let cloud = |c: Cloud| CloudEndpoints {
            login: known(c.authority_host()),
            graph: known(c.graph_url()),
            manage: c.management_url().map(known),
        };
        Endpoints {
            clouds: Cloud::ALL.map(cloud),
        }
    }

    /// Microsoft's hosts, with each given override replacing that service's
    /// host in every cloud.
    pub fn with_overrides(login: Option<&Url>, graph: Option<&Url>, manage: Option<&Url>) -> Self {
        let mut e = Endpoints::microsoft();
        for c in &mut e.clouds {
            if let Some(u) = login {
                c.login = u.clone();
            }
            if let Some(u) = graph {
                c.graph = u.clone();
            }
            if let Some(u) = manage {
                c.manage = Some(u.clone());
            }
        }
        e
    }

    /// Every service of every cloud at one base URL: a local stand-in.
    pub fn all_at(base: &Url) -> Endpoints {
        Endpoints::with_overrides(Some(base), Some(base), Some(base))
    }

    /// The hosts of `cloud`.
    pub fn for_cloud(&self, cloud: Cloud) -> &CloudEndpoints {
        &self.clouds[cloud.index()]
    }
}

/// `handoff collect`'s verification options (flattened into its flags).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct VerifyArgs {
    /// Base URL of the Entra ID token service to use for every cloud instead
    /// of Microsoft's (e.g. http://127.0.0.1:9000 for a test stand-in).
    #[arg(long, env = "HANDOFF_LOGIN_HOST", value_parser = parse_base_url)]
    pub login_host: Option<Url>,
    /// Base URL of Microsoft Graph to use for every cloud.
    #[arg(long, env = "HANDOFF_GRAPH_HOST", value_parser = parse_base_url)]
    pub graph_host: Option<Url>,
    /// Base URL of the Office 365 Management API to use for every cloud.
    #[arg(long, env = "HANDOFF_MANAGE_HOST", value_parser = parse_base_url)]
    pub manage_host: Option<Url>,
    /// After a successful check, start the Office 365 Management API
    /// subscriptions the template needs ("already enabled" counts as done).
    #[arg(long, env = "HANDOFF_START_SUBSCRIPTIONS")]
    pub start_subscriptions: bool,
}

impl VerifyArgs {
    pub fn endpoints(&self) -> Endpoints {
        Endpoints::with_overrides(
            self.login_host.as_ref(),
            self.graph_host.as_ref(),
            self.manage_host.as_ref(),
        )
    }
}

/// An `http://` or `https://` URL with a host and nothing after its path:
/// paths such as `/{tenant}/oauth2/v2.0/token` are appended to it.
pub fn parse_base_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| {
        format!("{s:?} is not a URL ({e}); write it like https://host or http://127.0.0.1:9000")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{s:?} must start with https:// or http://"));
    }
    if url.host_str().is_none_or(str::is_empty) || url.cannot_be_a_base() {
        return Err(format!("{s:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{s:?} must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{s:?} must not carry a user name or password"));
    }
    // The token request carries the client secret: never in clear text over a network.
    if url.scheme() == "http" && !url.host_str().is_some_and(crate::address::is_loopback_host) {
        return Err(format!(
            "{s:?} would send the client secret unencrypted: use https://, or http:// only for this machine"
        ));
    }
    Ok(url)
}

/// `base` with `segments` appended to its path, each percent-encoded.
fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

/// The outcome of checking one credential.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Every API gave a token with every required role, for the right
    /// tenant, and the subscriptions (if asked for) are on.
    pub ok: bool,
    pub template: String,
    pub tenant_id: String,
    pub client_id: String,
    pub cloud: String,
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
    pub api_app_id: String,
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
    let mut report = Report {
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
    };
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
        if result
            .api_app_id
            .eq_ignore_ascii_case(MANAGEMENT_API_APP_ID)
        {
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

/// The parts of a token response we read. The token itself never leaves
/// [`verify`].
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
}

/// An Entra ID error body (`error`, `error_description`, `error_codes`, ...).
#[derive(Deserialize, Default)]
struct EntraError {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
}

async fn request_token(
    client: &reqwest::Client,
    login: &Url,
    cred: &EntraCredential,
    scope: &str,
) -> Result<String, Failure> {
    let url = join(login, &[&cred.tenant_id, "oauth2", "v2.0", "token"]);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", cred.client_id.as_str()),
        ("client_secret", cred.client_secret.as_str()),
        ("scope", scope),
    ];
    let response = client
        .post(url)
        .form(&form)
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| unreachable_failure(Step::Token, "the Entra ID sign-in service", login, &e))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| unreachable_failure(Step::Token, "the Entra ID sign-in service", login, &e))?;
    if status.is_success() {
        let answer: TokenAnswer =
            serde_json::from_str(&body).unwrap_or(TokenAnswer { access_token: None });
        return answer.access_token.filter(|t| !t.is_empty()).ok_or_else(|| Failure {
            status: Some(status.as_u16()),
            ..Failure::new(
                Step::Token,
                None,
                "The sign-in service answered without an access token; check that the login host is Microsoft's.",
            )
        });
    }
    Err(entra_failure(status, &body, &cred.client_secret))
}

/// A failure from an Entra ID error answer.
fn entra_failure(status: StatusCode, body: &str, secret: &str) -> Failure {
    let parsed: Option<EntraError> = serde_json::from_str(body).ok();
    let Some(err) = parsed.filter(|e| e.error.is_some() || e.error_description.is_some()) else {
        return Failure {
            detail: excerpt(body, secret),
            status: Some(status.as_u16()),
            ..Failure::new(
                Step::Token,
                None,
                format!(
                    "The sign-in service answered HTTP {} without an Entra ID error; check the collector host's network path (proxy) and the login host.",
                    status.as_u16()
                ),
            )
        };
    };
    let code = entra_code(&err.error_codes, err.error_description.as_deref());
    let message = match &code {
        Some(code) => describe(code),
        None => format!(
            "Entra ID refused the sign-in ({}) without an error code; the detail below is its own explanation.",
            err.error.as_deref().unwrap_or("no error name")
        ),
    };
    Failure {
        code,
        detail: err
            .error_description
            .as_deref()
            .and_then(|d| excerpt(d, secret))
            .or_else(|| err.error.as_deref().and_then(|e| excerpt(e, secret))),
        status: Some(status.as_u16()),
        ..Failure::new(Step::Token, None, message)
    }
}

/// `AADSTSnnnn` from the `error_codes` array, or else from the
/// `AADSTSnnnn:` that starts the description.
fn entra_code(codes: &[u64], description: Option<&str>) -> Option<String> {
    if let Some(n) = codes.first() {
        return Some(format!("AADSTS{n}"));
    }
    let rest = description?.trim_start().strip_prefix("AADSTS")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty() && rest[digits.len()..].starts_with(':')).then(|| format!("AADSTS{digits}"))
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

const MANAGEMENT_API: &str = "Office 365 Management APIs";

async fn start_all(
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

enum Started {
    Now,
    Before,
}

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
        ..Failure::new(Step::Subscription, Some(MANAGEMENT_API), message)
    })
}

fn with_api(mut f: Failure) -> Failure {
    f.api = Some(MANAGEMENT_API.to_owned());
    f
}

/// One plain sentence per Entra ID and Management API code we know: what
/// happened and what to ask the customer for. `None` for other codes.
pub fn explain(code: &str) -> Option<&'static str> {
    let code = code.trim();
    let code = match code.strip_prefix("AADSTS") {
        Some(n) => n,
        None if code.chars().all(|c| c.is_ascii_digit()) => code,
        None => return explain_management(code),
    };
    Some(match code {
        "700016" => {
            "The app was not found in that tenant: the client ID, the tenant ID or the cloud is wrong; ask the customer to copy the Application (client) ID and the Directory (tenant) ID again from the app's Overview page and to confirm their cloud."
        }
        "7000215" => {
            "The secret was refused: the customer most likely sent the Secret ID instead of the secret's Value, or a truncated value; ask them to create a new secret and send its Value."
        }
        "7000222" => {
            "The client secret has expired; ask the customer to create a new secret under Certificates & secrets and send its Value and its expiry date."
        }
        "90002" => {
            "The tenant was not found: the tenant ID or domain is wrong, or the tenant is in another national cloud; ask the customer for the Directory (tenant) ID and which cloud they use."
        }
        "90038" => {
            "The tenant lives in a different national cloud than the one chosen; ask the customer which cloud their tenant is in (commercial, GCC, GCC High, DoD or China)."
        }
        "70011" => {
            "The requested scope was refused as invalid; the template's scope does not fit this tenant or cloud, so check the cloud with the customer before changing the template."
        }
        "65001" => {
            "Admin consent is missing; ask the customer's administrator to open API permissions and choose \"Grant admin consent\"."
        }
        "53003" => {
            "A Conditional Access policy blocked the sign-in; ask the customer to exclude this app's service principal from the policy, or to allow the collector's IP address."
        }
        _ => return None,
    })
}

fn explain_management(code: &str) -> Option<&'static str> {
    Some(match code {
        "AF10001" => {
            "The token lacks the ActivityFeed.Read permission; ask the customer to add it to the app as an Office 365 Management APIs Application permission and to grant admin consent."
        }
        "AF20010" => {
            "The tenant in the request differs from the tenant that issued the token; ask the customer to confirm the Directory (tenant) ID."
        }
        "AF20011" => {
            "The Management API does not know this tenant; ask the customer to confirm the Directory (tenant) ID and that the tenant has a Microsoft 365 subscription."
        }
        "AF20013" => {
            "The Management API needs the tenant's ID, not its domain name; ask the customer for the Directory (tenant) ID."
        }
        "AF20022" => {
            "No subscription exists for this content type yet; start it (handoff collect --start-subscriptions) and allow up to 12 hours for content."
        }
        "AF20023" => {
            "An administrator of the customer's tenant disabled this subscription; ask the customer to turn audit log recording on in the Microsoft Purview portal and to allow the subscription."
        }
        "AF429" => {
            "The Management API is throttling requests for this tenant; nothing to ask the customer, try again in a few minutes."
        }
        "AF20024" => "The subscription was already enabled; nothing to do.",
        _ => return None,
    })
}

/// [`explain`], or a general sentence naming the code.
pub fn describe(code: &str) -> String {
    match explain(code) {
        Some(s) => s.to_owned(),
        None => format!(
            "The service refused with error {code}, which handoff does not explain yet; look it up at https://login.microsoftonline.com/error?code={} or in Microsoft's documentation, and forward the detail to the customer.",
            code.trim_start_matches("AADSTS")
        ),
    }
}

/// The claims verification reads from an access token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// The tenant that issued the token.
    pub tid: Option<String>,
    /// The application permissions granted with admin consent.
    pub roles: Vec<String>,
}

/// Why an access token could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimsError {
    #[error("it is not three dot-separated parts")]
    NotThreeParts,
    #[error("its payload is not base64url")]
    NotBase64,
    #[error("its payload is not a JSON object")]
    NotJson,
    #[error("its roles claim is not a list of strings")]
    BadRoles,
}

/// The `tid` and `roles` claims of a JWT access token.
///
/// The signature is deliberately not checked: the token comes straight from
/// the token endpoint over TLS in answer to our own request, and we only
/// read what its issuer says about our app; nothing is granted on its
/// strength.
pub fn read_claims(token: &str) -> Result<Claims, ClaimsError> {
    const JWT: GeneralPurpose = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [_, payload, _] = parts.as_slice() else {
        return Err(ClaimsError::NotThreeParts);
    };
    let bytes = JWT.decode(payload).map_err(|_| ClaimsError::NotBase64)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| ClaimsError::NotJson)?;
    let object = value.as_object().ok_or(ClaimsError::NotJson)?;
    let roles = match object.get("roles") {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|r| r.as_str().map(str::to_owned).ok_or(ClaimsError::BadRoles))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ClaimsError::BadRoles),
    };
    Ok(Claims {
        tid: object
            .get("tid")
            .and_then(|t| t.as_str())
            .map(str::to_owned),
        roles,
    })
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    /// Every code in the notes' tables.
    const NOTED: [&str; 16] = [
        "AADSTS700016",
        "AADSTS7000215",
        "AADSTS7000222",
        "AADSTS90002",
        "AADSTS90038",
        "AADSTS70011",
        "AADSTS65001",
        "AADSTS53003",
        "AF10001",
        "AF20010",
        "AF20011",
        "AF20013",
        "AF20022",
        "AF20023",
        "AF429",
        "AF20024",
    ];

    #[test]
    fn every_noted_code_has_one_plain_sentence() {
        for code in NOTED {
            let s = explain(code).unwrap_or_else(|| panic!("{code} has no sentence"));
            assert!(s.ends_with('.'), "{code}: {s}");
            assert!(s.len() > 30, "{code}: {s}");
            assert!(
                !s.contains("AADSTS") && !s.contains("AF1") && !s.contains("AF2"),
                "{code}: {s}"
            );
        }
        let mut sentences: Vec<_> = NOTED.iter().filter_map(|c| explain(c)).collect();
        sentences.sort();
        sentences.dedup();
        assert_eq!(
            sentences.len(),
            NOTED.len(),
            "each code has its own sentence"
        );
    }

    #[test]
    fn the_readme_lists_every_sentence() {
        let readme = include_str!("../../README.md");
        for code in NOTED {
            let row = format!("| {code} | {} |", explain(code).unwrap());
            assert!(readme.contains(&row), "README.md lacks the row {row}");
        }
    }

    #[test]
    fn secret_id_mix_up_is_named() {
        let s = explain("AADSTS7000215").unwrap();
        assert!(s.contains("Secret ID") && s.contains("Value"), "{s}");
        assert_eq!(explain("7000215"), Some(s));
        assert!(explain("AADSTS7000222").unwrap().contains("expired"));
    }

    #[test]
    fn unknown_codes_get_a_general_sentence_with_the_code() {
        assert_eq!(explain("AADSTS1234567"), None);
        assert_eq!(explain("AF99999"), None);
        assert_eq!(explain("garbage"), None);
        let s = describe("AADSTS1234567");
        assert!(
            s.contains("AADSTS1234567") && s.contains("code=1234567"),
            "{s}"
        );
        assert!(describe("AF99999").contains("AF99999"));
        assert_eq!(describe("AADSTS7000222"), explain("AADSTS7000222").unwrap());
    }

    #[test]
    fn codes_come_from_error_codes_or_the_description() {
        assert_eq!(
            entra_code(&[7000215], None).as_deref(),
            Some("AADSTS7000215")
        );
        assert_eq!(
            entra_code(
                &[],
                Some("AADSTS7000222: The provided client secret keys are expired.")
            )
            .as_deref(),
            Some("AADSTS7000222")
        );
        assert_eq!(entra_code(&[], Some("AADSTS: nothing")), None);
        assert_eq!(entra_code(&[], Some("Something else")), None);
        assert_eq!(entra_code(&[], None), None);
    }

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

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT","alg":"RS256"}"#),
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode([7u8; 64])
        )
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let c = read_claims(&jwt(
            r#"{"tid":"t-1","roles":["A.Read","B.Read"],"aud":"x"}"#,
        ))
        .unwrap();
        assert_eq!(c.tid.as_deref(), Some("t-1"));
        assert_eq!(c.roles, ["A.Read", "B.Read"]);
        let none = read_claims(&jwt(r#"{"tid":"t-1"}"#)).unwrap();
        assert!(none.roles.is_empty());
        // Padding is tolerated, though Entra does not send it.
        let padded = format!(
            "a.{}.c",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"tid":"p"}"#)
        );
        assert_eq!(read_claims(&padded).unwrap().tid.as_deref(), Some("p"));
    }

    #[test]
    fn malformed_tokens_are_refused_clearly() {
        assert_eq!(read_claims("opaque-token"), Err(ClaimsError::NotThreeParts));
        assert_eq!(read_claims("a.b.c.d"), Err(ClaimsError::NotThreeParts));
        assert_eq!(read_claims("a.!!!.c"), Err(ClaimsError::NotBase64));
        assert_eq!(
            read_claims(&format!("a.{}.c", URL_SAFE_NO_PAD.encode("not json"))),
            Err(ClaimsError::NotJson)
        );
        assert_eq!(read_claims(&jwt("[1,2]")), Err(ClaimsError::NotJson));
        assert_eq!(
            read_claims(&jwt(r#"{"roles":"A.Read"}"#)),
            Err(ClaimsError::BadRoles)
        );
        assert_eq!(
            read_claims(&jwt(r#"{"roles":[1]}"#)),
            Err(ClaimsError::BadRoles)
        );
        assert_eq!(
            ClaimsError::NotBase64.to_string(),
            "its payload is not base64url"
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

    #[test]
    fn microsoft_hosts_parse() {
        let e = Endpoints::microsoft();
        assert_eq!(
            e.for_cloud(Cloud::Commercial).login.as_str(),
            "https://login.microsoftonline.com/"
        );
        assert_eq!(
            e.for_cloud(Cloud::Dod).graph.host_str(),
            Some("dod-graph.microsoft.us")
        );
        assert_eq!(
            e.for_cloud(Cloud::GccHigh)
                .manage
                .as_ref()
                .and_then(|u| u.host_str()),
            Some("manage.office365.us")
        );
        assert_eq!(e.for_cloud(Cloud::China).manage, None);
        // The hosts agree with the scopes templates are held to.
        use crate::integration::{GRAPH_APP_ID, MANAGEMENT_APP_ID, microsoft_scope};
        for c in Cloud::ALL {
            let hosts = e.for_cloud(c);
            let scope = |api: &str, base: &Url| {
                format!("{}/.default", base.as_str().trim_end_matches('/'))
                    == microsoft_scope(api, c).unwrap_or_default()
            };
            assert!(scope(GRAPH_APP_ID, &hosts.graph), "{c:?}");
            match &hosts.manage {
                Some(manage) => assert!(scope(MANAGEMENT_APP_ID, manage), "{c:?}"),
                None => assert_eq!(microsoft_scope(MANAGEMENT_APP_ID, c), None),
            }
        }
    }

    #[test]
    fn overrides_apply_to_every_cloud_and_paths_are_joined() {
        let base = parse_base_url("http://127.0.0.1:9000").unwrap();
        let e = Endpoints::with_overrides(Some(&base), None, Some(&base));
        assert_eq!(e.for_cloud(Cloud::China).login, base);
        assert_eq!(e.for_cloud(Cloud::China).manage.as_ref(), Some(&base));
        assert_eq!(
            e.for_cloud(Cloud::Dod).graph.host_str(),
            Some("dod-graph.microsoft.us")
        );
        assert_eq!(
            join(&base, &["t/x", "oauth2", "v2.0", "token"]).as_str(),
            "http://127.0.0.1:9000/t%2Fx/oauth2/v2.0/token"
        );
        let prefixed = parse_base_url("http://127.0.0.1:9000/entra/").unwrap();
        assert_eq!(
            join(&prefixed, &["t", "token"]).as_str(),
            "http://127.0.0.1:9000/entra/t/token"
        );
    }

    #[test]
    fn flags_override_the_hosts() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            verify: VerifyArgs,
        }
        let cli = Cli::try_parse_from([
            "collect",
            "--login-host",
            "http://127.0.0.1:9000",
            "--manage-host",
            "http://127.0.0.1:9001/",
            "--start-subscriptions",
        ])
        .unwrap();
        let e = cli.verify.endpoints();
        assert!(cli.verify.start_subscriptions);
        assert_eq!(
            e.for_cloud(Cloud::GccHigh).login.as_str(),
            "http://127.0.0.1:9000/"
        );
        assert_eq!(
            e.for_cloud(Cloud::Commercial)
                .manage
                .as_ref()
                .map(Url::as_str),
            Some("http://127.0.0.1:9001/")
        );
        assert_eq!(
            e.for_cloud(Cloud::Commercial).graph.host_str(),
            Some("graph.microsoft.com")
        );
        let err = Cli::try_parse_from(["collect", "--login-host", "login.microsoftonline.com"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("is not a URL"), "{err}");
    }

    #[test]
    fn base_urls_are_checked() {
        for bad in [
            "",
            "127.0.0.1:9000",
            "ftp://x",
            "http://x/?a=1",
            "http://u:p@x",
            "mailto:a@b",
            "http://login.example.com",
            "http://10.0.0.5:8080",
        ] {
            assert!(parse_base_url(bad).is_err(), "{bad:?} was accepted");
        }
        // Plain HTTP only to this machine: the token request carries the secret.
        for good in [
            "http://127.0.0.1:9000",
            "http://localhost:1",
            "http://[::1]:9",
            "https://login.example.com",
        ] {
            assert!(parse_base_url(good).is_ok(), "{good:?} was refused");
        }
    }
}
