//! The credential register: what the SOC knows about each customer's
//! current credential without ever holding its secret.
//!
//! Whoever decrypts an answer reports its non-secret facts back — the
//! collector with its acknowledgement, the PM's browser after a retrieval:
//! the app registration's client ID and the day its secret expires ([`Facts`]).
//! The server keeps them on the request. The register is, per customer and
//! template, the newest request with facts ([`Entry`]), with its
//! [`Standing`] on a given day: what a PM must act on comes first.

use time::Date;

/// The non-secret facts of one credential, checked: a client ID that is a
/// GUID (so no secret can be smuggled in its place) and a real date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The app registration's client (application) ID, lower case.
    pub client_id: String,
    /// The day the client secret expires, when the customer gave it.
    pub secret_expires_on: Option<Date>,
}

impl Facts {
    /// The facts in their wire form.
    ///
    /// # Errors
    /// A sentence for the reporter: the client ID is not a GUID, or the
    /// date is not `YYYY-MM-DD`.
    pub fn parse(client_id: &str, secret_expires_on: Option<&str>) -> Result<Facts, String> {
        if !crate::credential::is_guid(client_id) {
            return Err("client_id must be the app registration's client ID, a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).".to_owned());
        }
        let secret_expires_on = match secret_expires_on {
            None => None,
            Some(text) => Some(crate::credential::parse_date(text).ok_or_else(|| {
                "secret_expires_on must be a date written YYYY-MM-DD.".to_owned()
            })?),
        };
        Ok(Facts {
            client_id: client_id.to_ascii_lowercase(),
            secret_expires_on,
        })
    }

    /// The expiry as stored and sent: `YYYY-MM-DD`.
    pub fn expires_text(&self) -> Option<String> {
        self.secret_expires_on.map(date_text)
    }
}

/// `YYYY-MM-DD`.
pub(crate) fn date_text(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Who reported a credential's facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reporter {
    /// The collector, with its acknowledgement of an import.
    Collector,
    /// The PM's browser, after retrieving the answer.
    Pm,
}

impl Reporter {
    /// As stored in `requests.credential_from`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reporter::Collector => "collector",
            Reporter::Pm => "pm",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Reporter> {
        match text {
            "collector" => Some(Reporter::Collector),
            "pm" => Some(Reporter::Pm),
            _ => None,
        }
    }
}

/// Where a credential stands on a day, most urgent first (the register's
/// order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Standing {
    /// Its last verification failed.
    Failing,
    /// Its secret's expiry day has passed.
    Expired,
    /// Its secret expires within the lead time.
    Expiring,
    /// Nobody said when its secret expires.
    Unknown,
    /// Verified or not failing, and not expiring within the lead time.
    Ok,
}

impl Standing {
    /// Its name on the page and in the API: `failing`, `expired`,
    /// `expiring`, `unknown`, `ok`.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Failing => "failing",
            Standing::Expired => "expired",
            Standing::Expiring => "expiring",
            Standing::Unknown => "unknown",
            Standing::Ok => "ok",
        }
    }
}

/// One customer's current credential for one template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The request the credential came with.
    pub request_id: String,
    pub customer: String,
    pub template: String,
    pub facts: Facts,
    pub reporter: Reporter,
    /// The collector target it was imported into (e.g. `wazuh-office365`).
    pub imported_to: Option<String>,
    /// When it was answered (Unix seconds).
    pub answered_at: i64,
    /// When it was last verified (Unix seconds), and whether that passed.
    pub verified_at: Option<i64>,
    pub verify_ok: Option<bool>,
    /// The verification's sentence for the PM.
    pub verify_detail: Option<String>,
}

impl Entry {
    /// Days from `today` to the secret's expiry day: 0 on the day itself,
    /// negative once it has passed.
    pub fn days_left(&self, today: Date) -> Option<i64> {
        self.facts
            .secret_expires_on
            .map(|d| (d - today).whole_days())
    }

    /// Where it stands on `today` with `lead_days` of warning. A failed
    /// verification outranks the date: a credential that no longer works
    /// needs a new one whatever its expiry says.
    pub fn standing(&self, today: Date, lead_days: i64) -> Standing {
        if self.verify_ok == Some(false) {
            return Standing::Failing;
        }
        match self.days_left(today) {
            None => Standing::Unknown,
            Some(d) if d < 0 => Standing::Expired,
            Some(d) if d <= lead_days => Standing::Expiring,
            Some(_) => Standing::Ok,
        }
    }
}

/// The register from every request with facts, newest answer first: one
/// entry per customer (compared case-insensitively) and template, the
/// newest, sorted by standing on `today` and then by days left.
pub fn current(mut entries: Vec<Entry>, today: Date, lead_days: i64) -> Vec<(Entry, Standing)> {
    entries.sort_by_key(|e| std::cmp::Reverse(e.answered_at));
    let mut seen = std::collections::HashSet::new();
    let mut out: Vec<(Entry, Standing)> = entries
        .into_iter()
        .filter(|e| seen.insert((e.customer.to_lowercase(), e.template.clone())))
        .map(|e| {
            let standing = e.standing(today, lead_days);
            (e, standing)
        })
        .collect();
    out.sort_by(|(a, sa), (b, sb)| {
        sa.cmp(sb)
            .then_with(|| {
                let far = i64::MAX;
                a.days_left(today)
                    .unwrap_or(far)
                    .cmp(&b.days_left(today).unwrap_or(far))
            })
            .then_with(|| a.customer.to_lowercase().cmp(&b.customer.to_lowercase()))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn entry(customer: &str, expires: Option<Date>, answered_at: i64) -> Entry {
        Entry {
            request_id: format!("r{answered_at}"),
            customer: customer.to_owned(),
            template: "o365-management".to_owned(),
            facts: Facts {
                client_id: "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11".to_owned(),
                secret_expires_on: expires,
            },
            reporter: Reporter::Collector,
            imported_to: Some("wazuh-office365".to_owned()),
            answered_at,
            verified_at: None,
            verify_ok: None,
            verify_detail: None,
        }
    }

    #[test]
    fn facts_take_a_guid_and_a_date_only() {
        let f = Facts::parse("0B1B9F5A-2F4E-4A8E-9A51-1D6E2F7A3C11", Some("2027-06-30")).unwrap();
        assert_eq!(f.client_id, "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11");
        assert_eq!(f.expires_text().as_deref(), Some("2027-06-30"));
        assert!(Facts::parse("abc8Q~collectorsecretvalue0123456789ABCD", None).is_err());
        assert!(Facts::parse("0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11", Some("30/06/2027")).is_err());
        assert!(Facts::parse("0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11", Some("2027-02-30")).is_err());
        assert_eq!(
            Facts::parse("0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11", None)
                .unwrap()
                .secret_expires_on,
            None
        );
    }

    #[test]
    fn standing_follows_the_days_left_and_a_failed_check_outranks_them() {
        let today = date!(2026 - 11 - 30);
        let at = |days: i64| entry("Contoso", Some(today + time::Duration::days(days)), 1);
        assert_eq!(at(40).standing(today, 30), Standing::Ok);
        assert_eq!(at(31).standing(today, 30), Standing::Ok);
        assert_eq!(at(30).standing(today, 30), Standing::Expiring);
        assert_eq!(at(0).standing(today, 30), Standing::Expiring);
        assert_eq!(at(0).days_left(today), Some(0));
        assert_eq!(at(-1).standing(today, 30), Standing::Expired);
        assert_eq!(
            entry("Contoso", None, 1).standing(today, 30),
            Standing::Unknown
        );
        let mut failing = at(400);
        failing.verify_ok = Some(false);
        assert_eq!(failing.standing(today, 30), Standing::Failing);
        let mut verified = at(400);
        verified.verify_ok = Some(true);
        assert_eq!(verified.standing(today, 30), Standing::Ok);
    }

    #[test]
    fn the_register_keeps_the_newest_per_customer_and_template_most_urgent_first() {
        let today = date!(2026 - 11 - 30);
        let in_days = |d: i64| Some(today + time::Duration::days(d));
        let mut other_template = entry("Fabrikam", in_days(200), 5);
        other_template.template = "defender-incidents".to_owned();
        let entries = vec![
            entry("Contoso", in_days(-3), 1),  // replaced by the newer one below
            entry("CONTOSO", in_days(300), 9), // the current one, same customer
            entry("Fabrikam", in_days(10), 4),
            other_template,
            entry("Northwind", None, 3),
            entry("Adatum", in_days(-2), 2),
        ];
        let register = current(entries, today, 30);
        let shown: Vec<(&str, &str, &str)> = register
            .iter()
            .map(|(e, s)| (e.customer.as_str(), e.template.as_str(), s.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("Adatum", "o365-management", "expired"),
                ("Fabrikam", "o365-management", "expiring"),
                ("Northwind", "o365-management", "unknown"),
                ("Fabrikam", "defender-incidents", "ok"),
                ("CONTOSO", "o365-management", "ok"),
            ]
        );
    }
}
