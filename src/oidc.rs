//! Staff sign-in through the SOC's identity provider, by OpenID Connect
//! (Core 1.0 and Discovery 1.0; e.g. Microsoft Entra ID), beside local
//! accounts. No axum and no SQL here: the configuration and its checks, the
//! provider's discovery, the authorization request (code flow with PKCE,
//! state and nonce), and the checks of what comes back.
//!
//! The crate `openidconnect` checks the ID token: its signature against the
//! provider's published keys (fetched again for every sign-in, so a rotated
//! key is picked up), its issuer, its audience (our client ID), its expiry
//! (on the server's clock) and its nonce. This module then decides staff
//! access from one group claim: the configured group's ID must be among its
//! values. Entra ID leaves the `groups` claim out of a token when the user is
//! in too many groups ("groups overage", `_claim_names` / `hasgroups`); such
//! a token is refused with a sentence for the admin, not guessed at.
//!
//! An identity from the provider becomes a staff account named
//! `oidc:<issuer host>:<sub>`. Local names cannot hold `:`
//! ([`crate::staff::UserName`]), so such an account can never be taken by,
//! or confused with, a local one, and it has no password.

use std::fmt;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreRevocableToken, CoreRevocationErrorResponse,
    CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, Client, ClientId, ClientSecret, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    JsonWebKeySet, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The path the provider sends the browser back to, under the public URL.
/// It is the redirect URI an admin registers with the provider.
pub const CALLBACK_PATH: &str = "/login/oidc/callback";

/// How long a started sign-in may take at the provider, in seconds: the
/// state cookie's `Max-Age` and the stored flow's lifetime.
pub const FLOW_SECONDS: i64 = 10 * 60;

/// How long one call to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// Signature algorithms accepted for ID tokens: public-key ones only, so a
/// token can never be "signed" with the client secret (HS256).
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 8] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
];

/// Every claim of the ID token that the standard ones leave over, so that
/// the configured group claim (`groups` by default) and Entra's overage
/// markers can be read whatever their names.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    claims: Map<String, Value>,
}

impl AdditionalClaims for OtherClaims {}

type IdFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The client as discovery makes it: authorization endpoint set, token and
/// user-info endpoints as the provider published them.
type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<IdFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What the `--oidc-*` options say, checked.
#[derive(Clone)]
pub struct OidcConfig {
    /// The issuer, exactly as the provider's discovery document names it
    /// (Entra ID: `https://login.microsoftonline.com/<tenant ID>/v2.0`).
    issuer: IssuerUrl,
    /// The issuer's host, for the names of the accounts it signs in.
    issuer_host: String,
    client_id: String,
    /// Sent to the token endpoint only; never logged (no `Debug`).
    client_secret: String,
    /// The value of the group claim that grants staff access (Entra ID: the
    /// group's object ID).
    staff_group: String,
    /// The claim that lists the user's groups.
    groups_claim: String,
    /// The provider's name on the sign-in button.
    display_name: String,
}

impl fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcConfig")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("staff_group", &self.staff_group)
            .field("groups_claim", &self.groups_claim)
            .field("display_name", &self.display_name)
            .finish()
    }
}

impl OidcConfig {
    /// Checks the options. The issuer must be `https://`, or `http://` on a
    /// loopback host (`localhost`, `127.0.0.1`, `::1`) for tests and
    /// development; the others must not be empty. `groups_claim` defaults
    /// to `groups`, `display_name` (at most 40 characters) to `SSO`.
    ///
    /// # Errors
    /// A sentence naming the option that is wrong.
    pub fn new(
        issuer: &str,
        client_id: &str,
        client_secret: &str,
        staff_group: &str,
        groups_claim: Option<&str>,
        display_name: Option<&str>,
    ) -> Result<OidcConfig, String> {
        let url = reqwest::Url::parse(issuer)
            .map_err(|e| format!("--oidc-issuer {issuer:?} is not a URL: {e}"))?;
        let host = url
            .host_str()
            .ok_or_else(|| format!("--oidc-issuer {issuer:?} has no host"))?
            .to_owned();
        let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]");
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => {
                return Err(format!(
                    "--oidc-issuer {issuer:?} must be https:// (http:// only for localhost or 127.0.0.1)"
                ));
            }
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "--oidc-issuer {issuer:?} must not have a query or fragment"
            ));
        }
        let nonempty = |value: &str, option: &str| -> Result<String, String> {
            let v = value.trim();
            if v.is_empty() {
                Err(format!("{option} must not be empty"))
            } else {
                Ok(v.to_owned())
            }
        };
        let display_name = match display_name {
            Some(n) => crate::label::check(n, 40, "--oidc-display-name", true)?,
            None => "SSO".to_owned(),
        };
        Ok(OidcConfig {
            issuer: IssuerUrl::new(issuer.to_owned())
                .map_err(|e| format!("--oidc-issuer {issuer:?} is not a URL: {e}"))?,
            issuer_host: host.trim_matches(['[', ']']).to_owned(),
            client_id: nonempty(client_id, "--oidc-client-id")?,
            client_secret: nonempty(client_secret, "--oidc-client-secret")?,
            staff_group: nonempty(staff_group, "--oidc-staff-group")?,
            groups_claim: nonempty(groups_claim.unwrap_or("groups"), "--oidc-groups-claim")?,
            display_name,
        })
    }
}

/// An identity provider found by discovery, ready for sign-ins.
pub struct Provider {
    config: OidcConfig,
    /// The discovery document; its key set is fetched again at each sign-in.
    metadata: CoreProviderMetadata,
    /// Follows no redirects: the crate's advice against SSRF.
    http: reqwest::Client,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// Fetches the issuer's discovery document
    /// (`<issuer>/.well-known/openid-configuration`) and key set, and
    /// checks that the document names the same issuer and a token endpoint.
    ///
    /// # Errors
    /// A sentence for the operator: the issuer could not be reached, or is
    /// not the OpenID Connect issuer it claims to be.
    pub async fn discover(config: OidcConfig) -> Result<Provider, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        let issuer = config.issuer.as_str().to_owned();
        let metadata = CoreProviderMetadata::discover_async(config.issuer.clone(), &http)
            .await
            .map_err(|e| {
                format!(
                    "--oidc-issuer {issuer}: OpenID Connect discovery failed ({}); check that \
                     the URL is the issuer exactly as the provider names it (Entra ID: \
                     https://login.microsoftonline.com/<tenant ID>/v2.0) and that this host \
                     can reach it",
                    error_chain(&e)
                )
            })?;
        if metadata.token_endpoint().is_none() {
            return Err(format!(
                "--oidc-issuer {issuer}: the provider publishes no token endpoint, which the \
                 authorization code flow needs"
            ));
        }
        Ok(Provider {
            config,
            metadata,
            http,
        })
    }

    /// The name on the sign-in button.
    pub fn display_name(&self) -> &str {
        &self.config.display_name
    }

    /// The issuer URL, for the audit trail.
    pub fn issuer(&self) -> &str {
        self.config.issuer.as_str()
    }

    /// The staff account name of subject `sub`: `oidc:<issuer host>:<sub>`.
    pub fn account_name(&self, subject: &str) -> String {
        format!("oidc:{}:{subject}", self.config.issuer_host)
    }

    /// The client for one sign-in; with `keys`, the provider's key set as
    /// fetched now instead of at discovery.
    fn client(
        &self,
        redirect_uri: &str,
        keys: Option<JsonWebKeySet<CoreJsonWebKey>>,
    ) -> Result<OidcClient, String> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| format!("the redirect URI {redirect_uri:?} is not a URL: {e}"))?;
        let mut metadata = self.metadata.clone();
        if let Some(keys) = keys {
            metadata = metadata.set_jwks(keys);
        }
        Ok(OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in: the provider's authorization URL to send the
    /// browser to (code flow, `openid profile email` scopes, PKCE S256,
    /// fresh state and nonce), and the secrets to keep until it comes back.
    ///
    /// # Errors
    /// A sentence when `redirect_uri` is not a URL.
    pub fn begin(&self, redirect_uri: &str) -> Result<(String, Flow), String> {
        let client = self.client(redirect_uri, None)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".to_owned()))
            .add_scope(Scope::new("email".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            Flow {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
            },
        ))
    }

    /// Finishes a sign-in: exchanges `code` (with the flow's PKCE verifier
    /// and the client secret) for tokens, has the ID token checked
    /// (signature against the provider's current keys, issuer, audience,
    /// expiry and issue time at `now`, nonce), then the staff group.
    ///
    /// # Errors
    /// Why the sign-in is refused; see [`Refusal`].
    pub async fn finish(
        &self,
        redirect_uri: &str,
        flow: &Flow,
        code: &str,
        now: i64,
    ) -> Result<Identity, Refusal> {
        let keys = self.fetch_keys().await?;
        let client = self
            .client(redirect_uri, Some(keys))
            .map_err(Refusal::Exchange)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| Refusal::Exchange(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| Refusal::Exchange(error_chain(&e)))?;
        let id_token = response.id_token().ok_or(Refusal::NoIdToken)?;
        let at = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default();
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ALLOWED_ALGS)
            .set_time_fn(move || at);
        let claims = id_token
            .claims(&verifier, &Nonce::new(flow.nonce.clone()))
            .map_err(|e| Refusal::TokenInvalid(error_chain(&e)))?;
        let subject = claims.subject().as_str().to_owned();
        let label = claims
            .preferred_username()
            .map(|u| u.as_str().to_owned())
            .or_else(|| claims.email().map(|e| e.as_str().to_owned()));
        match group_check(
            &claims.additional_claims().claims,
            &self.config.groups_claim,
            &self.config.staff_group,
        ) {
            GroupCheck::Member => Ok(Identity {
                name: self.account_name(&subject),
                subject,
                label,
            }),
            GroupCheck::NotMember { claim_present } => Err(Refusal::NotInGroup {
                subject,
                claim_present,
            }),
            GroupCheck::Overage => Err(Refusal::GroupsOverage { subject }),
        }
    }

    async fn fetch_keys(&self) -> Result<JsonWebKeySet<CoreJsonWebKey>, Refusal> {
        JsonWebKeySet::fetch_async(self.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| Refusal::Exchange(format!("fetching the key set: {}", error_chain(&e))))
    }
}

/// The secrets of one sign-in under way: kept by the server (the state
/// also in the browser's cookie) until the provider sends the browser back.
#[derive(Clone)]
pub struct Flow {
    /// Echoed by the provider in the callback; also the cookie's value.
    pub state: String,
    /// Must come back inside the ID token.
    pub nonce: String,
    /// Proves to the token endpoint that this server asked for the code.
    pub pkce_verifier: String,
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Flow(..)")
    }
}

/// Someone the provider vouched for who is in the staff group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The provider's `sub`.
    pub subject: String,
    /// The staff account name, `oidc:<issuer host>:<sub>`.
    pub name: String,
    /// `preferred_username` or `email` when the token has one: for the
    /// trail, so that people can tell who a subject is.
    pub label: Option<String>,
}

/// Why a sign-in through the provider was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The token endpoint or key set could not be used (network, an error
    /// answer such as a reused or wrong code, a bad client secret).
    #[error("the provider's token endpoint refused or failed: {0}")]
    Exchange(String),
    /// The token response carried no ID token.
    #[error("the provider sent no ID token")]
    NoIdToken,
    /// The ID token failed a check: signature, issuer, audience, expiry or nonce.
    #[error("the ID token was refused: {0}")]
    TokenInvalid(String),
    /// A valid identity outside the staff group.
    #[error("subject {subject} is not in the staff group")]
    NotInGroup {
        subject: String,
        /// False: the token had no group claim at all (the app's token
        /// configuration lacks it).
        claim_present: bool,
    },
    /// Entra ID left the groups out: too many to list.
    #[error("subject {subject}'s token lists no groups: too many (groups overage)")]
    GroupsOverage { subject: String },
}

impl Refusal {
    /// A stable word for the trail's `reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Exchange(_) => "token_exchange_failed",
            Refusal::NoIdToken => "no_id_token",
            Refusal::TokenInvalid(_) => "id_token_invalid",
            Refusal::NotInGroup { .. } => "not_in_staff_group",
            Refusal::GroupsOverage { .. } => "groups_overage",
        }
    }

    /// The subject, once the ID token was found valid.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Refusal::NotInGroup { subject, .. } | Refusal::GroupsOverage { subject } => {
                Some(subject)
            }
            _ => None,
        }
    }
}

/// What the refused user is told about a groups overage: the fix is the admin's.
pub const OVERAGE_SENTENCE: &str = "Your identity provider did not list your groups in the sign-in \
     token because you are in too many of them (Entra ID \"groups overage\"), so handoff cannot \
     tell whether you are in the staff group. An administrator fixes this in Entra ID: in the \
     app registration's Token configuration, emit only \"Groups assigned to the application\" \
     (and assign the staff group to the app under Enterprise applications), or use group \
     filtering so that the token carries the staff group.";

/// The group check's outcome.
#[derive(Debug, PartialEq, Eq)]
enum GroupCheck {
    Member,
    NotMember { claim_present: bool },
    Overage,
}

/// Whether `claims` put the user in `group` through the claim `claim`,
/// whose value is a list of strings (or one string). Without that claim, an
/// Entra overage marker (`_claim_names` naming it, or `hasgroups: true`)
/// means the groups were left out, not that there are none.
fn group_check(claims: &Map<String, Value>, claim: &str, group: &str) -> GroupCheck {
    match claims.get(claim) {
        Some(Value::Array(values)) => {
            if values.iter().any(|v| v.as_str() == Some(group)) {
                GroupCheck::Member
            } else {
                GroupCheck::NotMember {
                    claim_present: true,
                }
            }
        }
        Some(Value::String(one)) if one == group => GroupCheck::Member,
        Some(_) => GroupCheck::NotMember {
            claim_present: true,
        },
        None => {
            let named = claims
                .get("_claim_names")
                .and_then(Value::as_object)
                .is_some_and(|names| names.contains_key(claim));
            let has = claims.get("hasgroups") == Some(&Value::Bool(true));
            if named || has {
                GroupCheck::Overage
            } else {
                GroupCheck::NotMember {
                    claim_present: false,
                }
            }
        }
    }
}

/// An error and its sources, one sentence: the crate's top-level messages
/// ("Request failed") say little alone.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_staff_group_grants_access() {
        let c = claims(json!({"groups": ["a", "staff-id", "b"]}));
        assert_eq!(group_check(&c, "groups", "staff-id"), GroupCheck::Member);
        let c = claims(json!({"roles": "staff-id"}));
        assert_eq!(group_check(&c, "roles", "staff-id"), GroupCheck::Member);
    }

    #[test]
    fn other_groups_and_no_groups_do_not() {
        let c = claims(json!({"groups": ["a", "b"]}));
        assert_eq!(
            group_check(&c, "groups", "staff-id"),
            GroupCheck::NotMember {
                claim_present: true
            }
        );
        assert_eq!(
            group_check(&claims(json!({})), "groups", "staff-id"),
            GroupCheck::NotMember {
                claim_present: false
            }
        );
        // A prefix or a differently cased ID is another group.
        let c = claims(json!({"groups": ["staff-i", "STAFF-ID"]}));
        assert!(matches!(
            group_check(&c, "groups", "staff-id"),
            GroupCheck::NotMember { .. }
        ));
    }

    #[test]
    fn an_overage_is_recognised_by_either_marker() {
        let c = claims(json!({"_claim_names": {"groups": "src1"},
            "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}}));
        assert_eq!(group_check(&c, "groups", "g"), GroupCheck::Overage);
        let c = claims(json!({"hasgroups": true}));
        assert_eq!(group_check(&c, "groups", "g"), GroupCheck::Overage);
        // Another claim's overage says nothing about this one.
        let c = claims(json!({"_claim_names": {"roles": "src1"}}));
        assert!(matches!(
            group_check(&c, "groups", "g"),
            GroupCheck::NotMember { .. }
        ));
    }

    #[test]
    fn the_issuer_must_be_https_but_on_loopback() {
        let ok = |i: &str| OidcConfig::new(i, "id", "secret", "g", None, None);
        assert!(ok("https://login.microsoftonline.com/t/v2.0").is_ok());
        assert!(ok("http://127.0.0.1:9000").is_ok());
        assert!(ok("http://localhost:9000/realms/soc").is_ok());
        assert!(ok("http://[::1]:9000").is_ok());
        for bad in [
            "http://idp.example.com",
            "ftp://idp.example.com",
            "not a url",
            "https://idp.example.com/?x=1",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        assert!(OidcConfig::new("https://i.example", "", "s", "g", None, None).is_err());
        assert!(OidcConfig::new("https://i.example", "c", " ", "g", None, None).is_err());
        assert!(OidcConfig::new("https://i.example", "c", "s", "", None, None).is_err());
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let c = OidcConfig::new(
            "https://i.example",
            "c",
            "hunter2-secret",
            "g",
            None,
            Some("Entra ID"),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Entra ID"));
    }
}
