//! The Microsoft clouds a tenant can live in, and each one's hosts: the one
//! place that knows where Entra ID, Graph and the Management API are.
//!
//! Collectors name clouds their own way (Wazuh's `api_type`, Filebeat's
//! `var.api`); each target keeps that mapping in its own file, as an
//! exhaustive match on `Cloud` that takes its hosts from here.

use serde::{Deserialize, Serialize};

/// A Microsoft cloud a tenant can live in, named as in the payload's `cloud`
/// field.
///
/// The Azure CLI knows three clouds: GCC tenants sign in to the commercial
/// one (`AzureCloud`), GCC High and DoD tenants to `AzureUSGovernment`
/// (Microsoft Graph national cloud deployments,
/// <https://learn.microsoft.com/graph/deployments>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cloud {
    /// Microsoft's worldwide cloud.
    Commercial,
    /// US Government Community Cloud: commercial Entra ID and Graph, its own
    /// Management API host.
    Gcc,
    /// US Government GCC High (Azure Government, L4).
    GccHigh,
    /// US Government DoD (Azure Government, L5).
    Dod,
    /// Microsoft's cloud in China, operated by 21Vianet.
    China,
}

/// One cloud's row of the host table (the notes' "Clouds" section).
struct Hosts {
    /// The Azure CLI's name for the cloud.
    az_cloud: &'static str,
    /// Entra ID's sign-in host.
    login: &'static str,
    /// `https://` and the login host: the Azure SDKs' `AZURE_AUTHORITY_HOST`.
    authority: &'static str,
    /// The authority with a trailing `/`, as MSAL and Filebeat write it.
    login_url: &'static str,
    /// `https://` and Graph's host.
    graph_url: &'static str,
    /// Graph's `.default` scope for a client-credentials token.
    graph_scope: &'static str,
    /// `https://` and the Office 365 Management API's host; `None` where it
    /// is not confirmed (China).
    management_url: Option<&'static str>,
    /// The Management API's `.default` scope, where its host is known.
    management_scope: Option<&'static str>,
}

/// A row of the host table; every URL is built from the host it names, so
/// a host is written once.
macro_rules! hosts {
    (az: $az:literal, login: $login:literal, graph: $graph:literal, management: None) => {
        Hosts {
            az_cloud: $az,
            login: $login,
            authority: concat!("https://", $login),
            login_url: concat!("https://", $login, "/"),
            graph_url: concat!("https://", $graph),
            graph_scope: concat!("https://", $graph, "/.default"),
            management_url: None,
            management_scope: None,
        }
    };
    (az: $az:literal, login: $login:literal, graph: $graph:literal, management: $m:literal) => {
        Hosts {
            az_cloud: $az,
            login: $login,
            authority: concat!("https://", $login),
            login_url: concat!("https://", $login, "/"),
            graph_url: concat!("https://", $graph),
            graph_scope: concat!("https://", $graph, "/.default"),
            management_url: Some(concat!("https://", $m)),
            management_scope: Some(concat!("https://", $m, "/.default")),
        }
    };
}

const COMMERCIAL: Hosts = hosts!(
    az: "AzureCloud",
    login: "login.microsoftonline.com",
    graph: "graph.microsoft.com",
    management: "manage.office.com"
);
const GCC: Hosts = hosts!(
    az: "AzureCloud",
    login: "login.microsoftonline.com",
    graph: "graph.microsoft.com",
    management: "manage-gcc.office.com"
);
const GCC_HIGH: Hosts = hosts!(
    az: "AzureUSGovernment",
    login: "login.microsoftonline.us",
    graph: "graph.microsoft.us",
    management: "manage.office365.us"
);
const DOD: Hosts = hosts!(
    az: "AzureUSGovernment",
    login: "login.microsoftonline.us",
    graph: "dod-graph.microsoft.us",
    management: "manage.protection.apps.mil"
);
const CHINA: Hosts = hosts!(
    az: "AzureChinaCloud",
    login: "login.chinacloudapi.cn",
    graph: "microsoftgraph.chinacloudapi.cn",
    management: None
);

impl Cloud {
    /// Every cloud, in the order forms list them.
    pub(crate) const ALL: [Cloud; 5] = [
        Cloud::Commercial,
        Cloud::Gcc,
        Cloud::GccHigh,
        Cloud::Dod,
        Cloud::China,
    ];

    /// The cloud named `name` (`commercial`, `gcc`, `gcc-high`, `dod`, `china`).
    pub fn parse(name: &str) -> Option<Cloud> {
        Cloud::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Its name in payloads and templates.
    pub const fn as_str(self) -> &'static str {
        match self {
            Cloud::Commercial => "commercial",
            Cloud::Gcc => "gcc",
            Cloud::GccHigh => "gcc-high",
            Cloud::Dod => "dod",
            Cloud::China => "china",
        }
    }

    /// How forms name it to a customer.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Cloud::Commercial => "Commercial (worldwide)",
            Cloud::Gcc => "US Government GCC",
            Cloud::GccHigh => "US Government GCC High",
            Cloud::Dod => "US Government DoD",
            Cloud::China => "China (21Vianet)",
        }
    }

    /// Its position in [`Cloud::ALL`], for tables kept per cloud.
    pub(crate) const fn index(self) -> usize {
        // A fieldless enum's discriminants count from 0 in declaration
        // order, which is `ALL`'s (`index_is_the_position_in_all` checks).
        self as usize
    }

    const fn hosts(self) -> &'static Hosts {
        match self {
            Cloud::Commercial => &COMMERCIAL,
            Cloud::Gcc => &GCC,
            Cloud::GccHigh => &GCC_HIGH,
            Cloud::Dod => &DOD,
            Cloud::China => &CHINA,
        }
    }

    /// The Azure CLI's name for it (`az cloud set --name ...`).
    pub(crate) const fn az_cloud_name(self) -> &'static str {
        self.hosts().az_cloud
    }

    /// Entra ID's sign-in host for tenants of this cloud.
    pub(crate) const fn login_host(self) -> &'static str {
        self.hosts().login
    }

    /// `https://` and the login host, as the Azure SDKs'
    /// `AZURE_AUTHORITY_HOST` takes it.
    pub(crate) const fn authority_host(self) -> &'static str {
        self.hosts().authority
    }

    /// The authority with a trailing `/` (`https://login.microsoftonline.com/`).
    pub(crate) const fn login_url(self) -> &'static str {
        self.hosts().login_url
    }

    /// `https://` and Graph's host.
    pub(crate) const fn graph_url(self) -> &'static str {
        self.hosts().graph_url
    }

    /// `https://` and the Management API's host; `None` where it is not
    /// known.
    pub(crate) const fn management_url(self) -> Option<&'static str> {
        self.hosts().management_url
    }

    /// Graph's `.default` scope.
    pub(crate) const fn graph_scope(self) -> &'static str {
        self.hosts().graph_scope
    }

    /// The Management API's `.default` scope; `None` where its host is not
    /// known.
    pub(crate) const fn management_scope(self) -> Option<&'static str> {
        self.hosts().management_scope
    }

    /// Whether the tenant lives in the Azure CLI's commercial cloud. Only
    /// there do `az ad app permission admin-consent` run (azure-cli's
    /// `role/custom.py` refuses any other cloud: "This command is not yet
    /// supported on sovereign clouds") and the app-role ids pinned in the
    /// templates hold (some differ in the US Government and China clouds).
    pub(crate) const fn is_az_commercial(self) -> bool {
        matches!(self, Cloud::Commercial | Cloud::Gcc)
    }
}

impl std::fmt::Display for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for c in Cloud::ALL {
            assert_eq!(Cloud::parse(c.as_str()), Some(c));
            assert_eq!(c.to_string(), c.as_str());
            assert_eq!(
                serde_json::to_value(c).ok(),
                Some(serde_json::Value::from(c.as_str()))
            );
        }
        assert_eq!(Cloud::parse("China"), None);
        assert_eq!(
            Cloud::ALL.map(Cloud::as_str),
            ["commercial", "gcc", "gcc-high", "dod", "china"]
        );
    }

    #[test]
    fn index_is_the_position_in_all() {
        for (i, c) in Cloud::ALL.into_iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }

    #[test]
    fn host_table_matches_the_notes() {
        let rows = Cloud::ALL.map(|c| (c.login_host(), c.graph_url(), c.management_url()));
        assert_eq!(
            rows,
            [
                (
                    "login.microsoftonline.com",
                    "https://graph.microsoft.com",
                    Some("https://manage.office.com")
                ),
                (
                    "login.microsoftonline.com",
                    "https://graph.microsoft.com",
                    Some("https://manage-gcc.office.com")
                ),
                (
                    "login.microsoftonline.us",
                    "https://graph.microsoft.us",
                    Some("https://manage.office365.us")
                ),
                (
                    "login.microsoftonline.us",
                    "https://dod-graph.microsoft.us",
                    Some("https://manage.protection.apps.mil")
                ),
                (
                    "login.chinacloudapi.cn",
                    "https://microsoftgraph.chinacloudapi.cn",
                    None
                ),
            ]
        );
        assert_eq!(
            Cloud::Dod.graph_scope(),
            "https://dod-graph.microsoft.us/.default"
        );
        assert_eq!(
            Cloud::Gcc.management_scope(),
            Some("https://manage-gcc.office.com/.default")
        );
        assert_eq!(Cloud::China.management_scope(), None);
        assert_eq!(
            Cloud::GccHigh.authority_host(),
            "https://login.microsoftonline.us"
        );
        assert!(Cloud::Gcc.is_az_commercial() && !Cloud::GccHigh.is_az_commercial());
    }
}
