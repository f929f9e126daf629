//! The sentence catalogue: one plain sentence per Entra ID (`AADSTS…`) and
//! Management API (`AF…`) error code, saying what happened and what to ask
//! the customer for. The README's table lists the same sentences.

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
pub(crate) fn describe(code: &str) -> String {
    match explain(code) {
        Some(s) => s.to_owned(),
        None => format!(
            "The service refused with error {code}, which handoff does not explain yet; look it up at https://login.microsoftonline.com/error?code={} or in Microsoft's documentation, and forward the detail to the customer.",
            code.trim_start_matches("AADSTS")
        ),
    }
}

/// Why a credential that worked when it was imported fails a re-check, in
/// words for the PM and the customer's administrator: what changed in the
/// customer's tenant (the secret expired or was deleted, consent was
/// removed, the app was disabled or deleted, the tenant is gone) and what
/// brings it back. Other failures keep the check's own sentence.
///
/// Codes from Microsoft's list of Entra authentication error codes
/// (learn.microsoft.com, "Microsoft Entra authentication and authorization
/// error codes"): 7000222 InvalidClientSecretExpiredKeysProvided, 7000215
/// InvalidClientSecretProvided, 700016 UnauthorizedClient_DoesNotMatchRequest,
/// 7000112 UnauthorizedClientApplicationDisabled, 7000229
/// MissingServicePrincipal, 90002 InvalidTenantName, 65001 DelegationDoesNotExist.
pub fn recheck_cause(failure: &super::Failure) -> String {
    let code = failure
        .code
        .as_deref()
        .map(|c| c.trim().trim_start_matches("AADSTS"));
    let sentence = match (failure.step, code) {
        (_, Some("7000222")) => {
            "The client secret has expired. The customer's administrator creates a new secret for the same app registration (Certificates & secrets) and sends its Value; a rotation request asks for exactly that."
        }
        (_, Some("7000215")) => {
            "The client secret is no longer accepted: it was deleted or replaced in the app registration. The customer's administrator creates a new secret for the same app and sends its Value."
        }
        (_, Some("700016")) => {
            "The app registration is gone from the customer's tenant (deleted, or never consented there). The customer's administrator restores it (Deleted applications, within 30 days) or registers a new app and sends its details."
        }
        (_, Some("7000112")) => {
            "The app is disabled in the customer's tenant. The customer's administrator enables it again: Enterprise applications, the app, Properties, \"Enabled for users to sign-in?\" set to Yes."
        }
        (_, Some("7000229")) => {
            "The app's enterprise application (service principal) was deleted from the customer's tenant, so its admin consent went with it. The customer's administrator grants admin consent again, which creates it anew."
        }
        (_, Some("90002")) => {
            "The customer's tenant was not found: it was deleted, or the credential names another tenant or cloud. Ask the customer whether the tenant still exists and which tenant ID to use."
        }
        (_, Some("65001")) | (super::Step::Roles, _) => {
            // The check's sentence names the missing permissions and what
            // to ask for.
            return format!("Admin consent was removed or reduced. {}", failure.message);
        }
        _ => return failure.message.clone(),
    };
    sentence.to_owned()
}

#[cfg(test)]
mod tests {
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
    fn a_recheck_names_what_changed_in_the_tenant() {
        use super::super::Step;
        let failure = |step, code: Option<&str>| super::super::Failure {
            step,
            api: None,
            code: code.map(str::to_owned),
            message: "The app lacks ActivityFeed.Read.".to_owned(),
            detail: None,
            status: None,
            transient: false,
        };
        for (code, words) in [
            ("AADSTS7000222", "has expired"),
            ("AADSTS7000215", "deleted or replaced"),
            ("AADSTS700016", "gone from the customer's tenant"),
            ("AADSTS7000112", "disabled"),
            ("AADSTS7000229", "service principal"),
            ("AADSTS90002", "tenant was not found"),
        ] {
            let cause = recheck_cause(&failure(Step::Token, Some(code)));
            assert!(cause.contains(words), "{code}: {cause}");
        }
        let roles = recheck_cause(&failure(Step::Roles, None));
        assert!(roles.starts_with("Admin consent was removed or reduced. The app lacks"));
        // Anything else keeps the check's own sentence.
        let other = recheck_cause(&failure(Step::Token, Some("AADSTS53003")));
        assert_eq!(other, "The app lacks ActivityFeed.Read.");
    }
}
