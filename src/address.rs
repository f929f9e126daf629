//! Which hosts are this machine, and the one rule for plain `http://`: it is
//! allowed only to them. Pages (may the browser use WebCrypto here?), webhook
//! receivers (a signed body), Entra stand-ins (a client secret) and the
//! collector's server (an API token) all ask here.
//!
//! "This machine" is a loopback IP address (`127.0.0.0/8`, `::1`) or the name
//! `localhost` and its subdomains, which RFC 6761 §6.3 reserves for loopback
//! and browsers treat as a secure context
//! (<https://w3c.github.io/webappsec-secure-contexts/#localhost>).

use reqwest::Url;

/// Whether `host` (a URL's host or an HTTP `Host` header: a name, an IPv4
/// address, or a bracketed IPv6 address, each with an optional `:port`)
/// names this machine. Case does not matter; an empty host is not loopback.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => match host.parse::<std::net::IpAddr>() {
            // A bare IPv6 address (as `Url::host_str` gives it without brackets).
            Ok(_) => host,
            Err(_) => host.rsplit_once(':').map_or(host, |(n, _)| n),
        },
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Refuses a URL that would carry `what` (e.g. "the client secret") in clear
/// text over a network: anything but `https://`, or `http://` to this
/// machine. The error is a sentence naming the URL's host only (a URL may
/// hold a token in its path).
///
/// # Errors
/// Another scheme, no host, or `http://` to a host that is not loopback.
pub(crate) fn require_tls_unless_loopback(url: &Url, what: &str) -> Result<(), String> {
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err("the URL has no host".to_owned());
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" => Err(format!(
            "http://{host} would send {what} unencrypted: use https:// (http:// is only for this machine)"
        )),
        other => Err(format!("{other}://{host} must be https://")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for h in [
            "localhost",
            "LocalHost:8080",
            "localhost.",
            "127.0.0.1:8080",
            "127.1.2.3",
            "[::1]:8080",
            "::1",
            "app.localhost",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "handoff.example.com",
            "localhost.example.com",
            "mylocalhost",
            "10.0.0.1:8080",
            "",
            "[2001:db8::1]:80",
            "2001:db8::1",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn plain_http_goes_to_this_machine_only() {
        let check = |u: &str| require_tls_unless_loopback(&Url::parse(u).unwrap(), "the token");
        for ok in [
            "https://soc.example/x",
            "http://127.0.0.1:9000",
            "http://[::1]:9000/",
            "http://localhost:8080",
            "http://api.localhost",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        let err = check("http://soc.example/hooks/T0K3N").unwrap_err();
        assert!(
            err.contains("soc.example") && err.contains("the token"),
            "{err}"
        );
        assert!(!err.contains("T0K3N"), "{err}");
        assert!(check("ftp://soc.example").is_err());
        assert!(check("http://10.0.0.1").is_err());
    }
}
