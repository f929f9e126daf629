//! Checks on an Entra ID app registration's credentials, before they are sent.
//!
//! These catch the mistakes that make a hand-over fail days later: the Secret
//! ID pasted instead of the secret's value, a tenant name where a GUID belongs,
//! stray whitespace or quotes from a copy, an expiry date that is wrong (one
//! that is legal but unusual, more than 24 months away, gets a warning). The
//! browser runs the same rules (`static/js/credential.js`); both are held to
//! the cases in `tests/fixtures/credential-checks.json`.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Date, Month};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Level {
    /// Must be fixed before sending.
    Error,
    /// Worth a look, but may be right.
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Finding {
    pub(crate) field: &'static str,
    pub(crate) level: Level,
    /// Stable machine code, shared with the browser.
    pub(crate) code: &'static str,
    /// One sentence that says how to fix it.
    pub(crate) message: String,
}

fn finding(field: &'static str, level: Level, code: &'static str, message: &str) -> Finding {
    Finding {
        field,
        level,
        code,
        message: message.to_owned(),
    }
}

/// Checks every field and returns all findings, errors and warnings, in field order.
pub(crate) fn check(fields: &BTreeMap<String, String>, today: Date) -> Vec<Finding> {
    let get = |name: &str| fields.get(name).map_or("", String::as_str);
    let mut out = vec![];
    let tenant = get("tenant_id");
    let client = get("client_id");

    if let Some(f) = common("tenant_id", tenant) {
        out.push(f);
    } else if !is_guid(tenant) {
        out.push(if is_domain(tenant) {
            finding("tenant_id", Level::Warning, "tenant_domain",
                "This is a tenant domain, not its ID. It works for sign-in, but the Office 365 Management API needs the Directory (tenant) ID GUID from the app's Overview page; please send that if you can.")
        } else {
            finding("tenant_id", Level::Error, "not_guid",
                "The Directory (tenant) ID is a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47; copy it from the app registration's Overview page.")
        });
    }

    if let Some(f) = common("client_id", client) {
        out.push(f);
    } else if !is_guid(client) {
        out.push(finding("client_id", Level::Error, "not_guid",
            "The Application (client) ID is a GUID; copy it from the app registration's Overview page."));
    } else if client.eq_ignore_ascii_case(tenant) {
        out.push(finding("client_id", Level::Error, "same_as_tenant",
            "This is the tenant ID again; the Application (client) ID is the other GUID on the app registration's Overview page."));
    }

    let secret = get("client_secret");
    if let Some(f) = common("client_secret", secret) {
        out.push(f);
    } else if is_guid(secret) {
        out.push(finding("client_secret", Level::Error, "secret_is_guid",
            "This is the Secret ID, not the secret. Under Certificates & secrets, copy the Value column instead; if it is no longer shown, create a new client secret."));
    } else if secret.chars().count() > 100 {
        out.push(finding("client_secret", Level::Error, "too_long",
            "A client secret value is at most a few dozen characters; check that only the Value was copied."));
    } else if !looks_like_current_secret(secret) {
        out.push(finding("client_secret", Level::Warning, "secret_shape",
            "This does not look like a current client secret value (40 characters containing Q~). If the secret is older it may be right; otherwise copy the whole Value column again."));
    }

    let expires = get("secret_expires_on");
    if let Some(f) = common("secret_expires_on", expires) {
        out.push(f);
    } else {
        match parse_date(expires) {
            None => out.push(finding("secret_expires_on", Level::Error, "date_format",
                "Give the secret's expiry date as YYYY-MM-DD, as shown in the Expires column under Certificates & secrets.")),
            Some(d) if d < today => out.push(finding("secret_expires_on", Level::Error, "date_past",
                "This secret has already expired; create a new client secret and send its value.")),
            Some(d) => out.extend(long_expiry(d, today)),
        }
    }

    let cloud = get("cloud");
    if crate::cloud::Cloud::parse(cloud).is_none() {
        out.push(finding(
            "cloud",
            Level::Error,
            "cloud_unknown",
            "Choose the cloud the tenant lives in: commercial, gcc, gcc-high, dod or china.",
        ));
    }
    out
}

/// The date Entra ID stores for a secret that never expires (the old
/// portal's "Never"; Graph and PowerShell can still set it).
pub(crate) const NEVER: Date = time::macros::date!(2299 - 12 - 31);

/// The warning for a secret valid for more than 24 months, or for ever. The
/// portal offers at most 24, but `az ad app credential reset --years N`,
/// PowerShell and Graph set any end date, so such a date is legal and never
/// refused; it is only worth a second look. `None` for a usual date.
pub(crate) fn long_expiry(expires: Date, today: Date) -> Option<Finding> {
    if expires == NEVER {
        Some(finding(
            "secret_expires_on",
            Level::Warning,
            "date_never",
            "2299-12-31 means this secret never expires (it is the date Entra ID records for no end date). That is accepted, but Microsoft recommends secrets that expire in under 12 months; consider replacing it with one that does.",
        ))
    } else if expires > months_later(today, 24) {
        Some(finding(
            "secret_expires_on",
            Level::Warning,
            "date_far",
            "This secret is valid for more than 24 months. That is accepted (az, PowerShell and Graph allow it; the portal offers at most 24), but Microsoft recommends secrets that expire in under 12 months; check the date in the Expires column.",
        ))
    } else {
        None
    }
}

/// Mistakes any pasted value can have: nothing there, whitespace, quotes.
fn common(field: &'static str, value: &str) -> Option<Finding> {
    if value.is_empty() {
        Some(finding(
            field,
            Level::Error,
            "required",
            "This field is required.",
        ))
    } else if value.chars().any(char::is_whitespace) {
        Some(finding(
            field,
            Level::Error,
            "whitespace",
            "Remove the spaces or line breaks that came with the copy; none of these values contains any.",
        ))
    } else if value.chars().any(|c| {
        matches!(
            c,
            '"' | '\'' | '\u{201c}' | '\u{201d}' | '\u{2018}' | '\u{2019}' | '`'
        )
    }) {
        Some(finding(
            field,
            Level::Error,
            "quotes",
            "Remove the quotation marks around the value.",
        ))
    } else {
        None
    }
}

pub(crate) fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
}

/// Current secrets: three characters, a digit, `Q~`, then 31 to 34 more, all
/// from `a-z A-Z 0-9 _ ~ . -`.
fn looks_like_current_secret(s: &str) -> bool {
    let b = s.as_bytes();
    let allowed = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'~' | b'.' | b'-');
    (37..=40).contains(&b.len())
        && b[..3].iter().all(|c| allowed(c) && *c != b'-')
        && b[3].is_ascii_digit()
        && &b[4..6] == b"Q~"
        && b[6..].iter().all(allowed)
}

/// `YYYY-MM-DD`, and only real dates.
pub(crate) fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i32 = s.get(0..4)?.parse().ok()?;
    let month: u8 = s.get(5..7)?.parse().ok()?;
    let day: u8 = s.get(8..10)?.parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// The same day `months` later, or the month's last day when it has fewer days.
fn months_later(d: Date, months: i32) -> Date {
    let total = d.year() * 12 + i32::from(u8::from(d.month())) - 1 + months;
    let (year, month) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u8);
    let month = Month::try_from(month).unwrap_or(Month::December);
    let last = time::util::days_in_month(month, year);
    Date::from_calendar_date(year, month, d.day().min(last)).unwrap_or(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn shared_cases_give_exactly_the_expected_findings() {
        let cases: Value =
            serde_json::from_str(include_str!("../tests/fixtures/credential-checks.json")).unwrap();
        let today = parse_date(cases["today"].as_str().unwrap()).unwrap();
        for case in cases["cases"].as_array().unwrap() {
            let mut fields: BTreeMap<String, String> =
                serde_json::from_value(cases["base"].clone()).unwrap();
            for (k, v) in case["set"].as_object().unwrap() {
                fields.insert(k.clone(), v.as_str().unwrap().to_owned());
            }
            let got: Vec<(String, String, String)> = check(&fields, today)
                .into_iter()
                .map(|f| {
                    (
                        f.field.to_owned(),
                        serde_json::to_value(f.level)
                            .unwrap()
                            .as_str()
                            .unwrap()
                            .to_owned(),
                        f.code.to_owned(),
                    )
                })
                .collect();
            let want: Vec<(String, String, String)> =
                serde_json::from_value(case["expect"].clone()).unwrap();
            assert_eq!(got, want, "case: {}", case["name"]);
        }
    }

    #[test]
    fn months_later_clamps_to_the_month_end() {
        let d = parse_date("2026-08-31").unwrap();
        assert_eq!(months_later(d, 6), parse_date("2027-02-28").unwrap());
        assert_eq!(
            months_later(parse_date("2026-11-22").unwrap(), 24),
            parse_date("2028-11-22").unwrap()
        );
    }
}
