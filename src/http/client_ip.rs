//! Who is asking: the peer address, or, behind a configured trusted proxy,
//! the address that proxy reports. Rate limits are keyed on it (an IPv6
//! client on its /64, see [`rate_key`]); audit events record it whole.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};
use ipnet::IpNet;
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;

/// Proxies whose `X-Forwarded-For` is believed. Empty: the header is ignored,
/// so a client cannot dodge a limit by inventing addresses.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Arc<Vec<IpNet>>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(Arc::new(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address: walks `X-Forwarded-For` from the right (the entry
    /// our proxy appended) past trusted hops; the first untrusted one is the client.
    pub(crate) fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        hops.iter()
            .rev()
            .copied()
            .find(|ip| !self.trusts(*ip))
            .unwrap_or(peer)
    }
}

/// What a rate limit counts a client under: an IPv4 address, or an IPv6
/// client's /64 network. One subscriber or host is usually given a whole /64
/// and may use any address in it, so counting IPv6 addresses one by one would
/// give a client 2^64 budgets. An IPv4-mapped IPv6 address counts as its IPv4
/// address.
pub(crate) fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        },
    }
}

impl KeyExtractor for TrustedProxies {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .ok_or(GovernorError::UnableToExtractKey)?;
        Ok(rate_key(self.client_ip(peer, req.headers())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_header_is_ignored_without_a_trusted_proxy() {
        let none = TrustedProxies::default();
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(none.client_ip(peer, &headers("198.51.100.1")), peer);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let key = |s: &str| rate_key(s.parse().unwrap()).to_string();
        assert_eq!(key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::");
        assert_eq!(key("2001:db8:1:3::1"), "2001:db8:1:3::");
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_eq!(key("::ffff:203.0.113.9"), "203.0.113.9");
    }

    #[test]
    fn trusted_proxy_reports_the_rightmost_untrusted_hop() {
        let t = TrustedProxies::new(vec!["10.0.0.0/8".parse().unwrap()]);
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let got = t.client_ip(peer, &headers("1.2.3.4, 198.51.100.7, 10.0.0.5"));
        assert_eq!(got, "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(t.client_ip(peer, &HeaderMap::new()), peer);
    }
}

/// The client's address as audit events record it: the peer, or the address
/// a trusted proxy reports. `None` when the server was not told the peer
/// (a router called directly in a test).
#[derive(Clone, Debug)]
pub(crate) struct ClientAddr(pub Option<String>);

impl axum::extract::FromRequestParts<super::AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &super::AppState,
    ) -> Result<ClientAddr, Self::Rejection> {
        Ok(ClientAddr(
            parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| {
                state
                    .settings
                    .trusted_proxies
                    .client_ip(c.0.ip(), &parts.headers)
                    .to_string()
            }),
        ))
    }
}
