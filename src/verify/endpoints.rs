//! Where Entra ID, Microsoft Graph and the Management API are for each
//! cloud, and the base URLs that may stand in for them (`--login-host` and
//! its siblings, how the tests point verification at a local stand-in).

use reqwest::Url;

use crate::cloud::Cloud;

/// The hosts of one cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudEndpoints {
    /// Entra ID's token service.
    pub(crate) login: Url,
    /// Microsoft Graph. Verification does not call it (the token request
    /// names Graph through the template's scope); kept so that collectors
    /// and later checks find every host of a cloud in one place.
    pub(crate) graph: Url,
    /// The Office 365 Management API; `None` where its host is not known.
    pub(crate) manage: Option<Url>,
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
    pub(crate) fn microsoft() -> Endpoints {
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
    pub(crate) fn with_overrides(
        login: Option<&Url>,
        graph: Option<&Url>,
        manage: Option<&Url>,
    ) -> Self {
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
    pub(crate) fn for_cloud(&self, cloud: Cloud) -> &CloudEndpoints {
        &self.clouds[cloud.index()]
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
    crate::address::require_tls_unless_loopback(&url, "the client secret")?;
    Ok(url)
}

/// `base` with `segments` appended to its path, each percent-encoded.
pub(super) fn join(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::{GRAPH_APP_ID, MANAGEMENT_APP_ID, microsoft_scope};

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
