//! Which clouds a template works in: every API it uses has a token scope
//! there, and everything it reads exists there.

use super::check::is_path_under;
use super::{Cloud, Collect, Permission, TokenScope};

/// Graph security alerts and incidents exist only in the global and US
/// Government clouds: Microsoft's pages for `GET /security/alerts_v2` and
/// `GET /security/incidents` include `global-us.md` ("available in the
/// following national cloud deployments": global, US Government L4 and L5),
/// not China operated by 21Vianet.
const NOT_IN_CHINA_RELATIONSHIPS: [&str; 3] = ["alerts", "alerts_v2", "incidents"];
const NOT_IN_CHINA_PATHS: [&str; 3] = [
    "/security/alerts",
    "/security/alerts_v2",
    "/security/incidents",
];
const NOT_IN_CHINA_PERMISSIONS: [&str; 2] = ["SecurityAlert.", "SecurityIncident."];

/// Why a template with these permissions, scopes and reads cannot work for
/// a tenant in `cloud`, as a clause; `None` when it can.
pub(super) fn unworkable_in(
    cloud: Cloud,
    permissions: &[Permission],
    tokens: &[TokenScope],
    collect: &Collect,
) -> Option<String> {
    // What does not exist in a cloud is the real reason, ahead of a scope
    // left out because of it.
    if cloud == Cloud::China {
        const ABSENT: &str =
            "Microsoft Graph security alerts and incidents do not exist in the China cloud";
        if let Some(p) = permissions.iter().find(|p| {
            NOT_IN_CHINA_PERMISSIONS
                .iter()
                .any(|x| p.name.starts_with(x))
        }) {
            return Some(format!("{ABSENT}, and {} is for them", p.name));
        }
        for r in collect
            .graph_resources
            .iter()
            .filter(|r| r.name == "security")
        {
            if let Some(x) = r
                .relationships
                .iter()
                .find(|x| NOT_IN_CHINA_RELATIONSHIPS.contains(&x.as_str()))
            {
                return Some(format!("{ABSENT} (collect reads security/{x})"));
            }
        }
        if let Some(e) = collect
            .graph_endpoints
            .iter()
            .find(|e| NOT_IN_CHINA_PATHS.iter().any(|base| is_path_under(e, base)))
        {
            return Some(format!("{ABSENT} (collect reads {e})"));
        }
        if !collect.content_types.is_empty() {
            return Some(
                "the Office 365 Management API's address in the China cloud is not known to handoff"
                    .to_owned(),
            );
        }
    }
    for p in permissions {
        let scope = tokens
            .iter()
            .find(|t| t.api_app_id.eq_ignore_ascii_case(&p.api_app_id))
            .and_then(|t| t.scope(cloud));
        if scope.is_none() {
            return Some(format!(
                "[[tokens]] give the {} API no {} scope (it is not known to exist there)",
                p.api,
                cloud.as_str()
            ));
        }
    }
    None
}

/// The clouds a template works in, in [`Cloud::ALL`]'s order: those it
/// claims, each checked; or, claiming none, every cloud it can work in.
pub(super) fn of(
    claimed: Option<&[Cloud]>,
    permissions: &[Permission],
    tokens: &[TokenScope],
    collect: &Collect,
) -> Result<Vec<Cloud>, String> {
    let Some(claimed) = claimed else {
        let clouds: Vec<Cloud> = Cloud::ALL
            .into_iter()
            .filter(|c| unworkable_in(*c, permissions, tokens, collect).is_none())
            .collect();
        if clouds.is_empty() {
            return Err(
                "no cloud has a token scope for every API the permissions use, so the template works nowhere".to_owned(),
            );
        }
        return Ok(clouds);
    };
    if claimed.is_empty() {
        return Err("clouds must name at least one cloud".to_owned());
    }
    for (n, cloud) in claimed.iter().enumerate() {
        if claimed[..n].contains(cloud) {
            return Err(format!("clouds lists {} twice", cloud.as_str()));
        }
        if let Some(why) = unworkable_in(*cloud, permissions, tokens, collect) {
            return Err(format!(
                "clouds lists {}, but {why}; leave it out of clouds",
                cloud.as_str()
            ));
        }
    }
    let mut clouds = claimed.to_vec();
    clouds.sort();
    Ok(clouds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::Integrations;
    use crate::integration::check::sample::*;

    #[test]
    fn only_the_templates_that_read_graph_alerts_or_incidents_refuse_china() {
        let all = Integrations::builtin();
        let refuse: Vec<&str> = all
            .all()
            .iter()
            .filter(|i| !i.permissions.is_empty() && !i.clouds.contains(&Cloud::China))
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(
            refuse,
            [
                "o365-management",
                "graph-security-alerts",
                "defender-incidents",
                "m365-posture"
            ]
        );
        for i in all.all().iter().filter(|i| !i.permissions.is_empty()) {
            for cloud in [Cloud::Commercial, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod] {
                assert!(i.clouds.contains(&cloud), "{} {cloud}", i.id);
                assert_eq!(i.cloud_refusal(cloud), None);
            }
        }
        let why = all
            .get("defender-incidents")
            .unwrap()
            .cloud_refusal(Cloud::China)
            .unwrap();
        assert_eq!(
            why,
            "Microsoft Graph security alerts and incidents do not exist in the China cloud, and SecurityIncident.Read.All is for them"
        );
        let why = all
            .get("o365-management")
            .unwrap()
            .cloud_refusal(Cloud::China)
            .unwrap();
        assert_eq!(
            why,
            "the Office 365 Management API's address in the China cloud is not known to handoff"
        );
    }

    #[test]
    fn a_claimed_cloud_must_have_a_token_scope_for_every_api() {
        // minimal() has only a commercial scope.
        let text = minimal("x").replace(
            "targets = [\"json\"]",
            "targets = [\"json\"]\nclouds = [\"commercial\", \"gcc-high\"]",
        );
        assert_eq!(
            check_text(&text).unwrap_err(),
            "test.toml: clouds lists gcc-high, but [[tokens]] give the Microsoft Graph API no gcc-high scope (it is not known to exist there); leave it out of clouds"
        );
        let only_commercial = text.replace(", \"gcc-high\"", "");
        assert_eq!(
            check_text(&only_commercial).unwrap().clouds,
            [Cloud::Commercial]
        );
        // Without a list, the clouds are those every API has a scope for.
        assert_eq!(
            check_text(&minimal("x")).unwrap().clouds,
            [Cloud::Commercial]
        );
        let all = check_text(&graph_template("", "", "AuditLog.Read.All")).unwrap();
        assert_eq!(all.clouds, Cloud::ALL);
        for (clouds, expected) in [
            ("clouds = []", "clouds must name at least one cloud"),
            ("clouds = [\"gcc\", \"gcc\"]", "clouds lists gcc twice"),
            ("clouds = [\"mars\"]", "unknown variant `mars`"),
        ] {
            let err = check_text(&graph_template(clouds, "", "AuditLog.Read.All")).unwrap_err();
            assert!(err.contains(expected), "{clouds}: {err}");
        }
        // Listed in any order, kept in the forms' order.
        let t = check_text(&graph_template(
            "clouds = [\"dod\", \"commercial\"]",
            "",
            "AuditLog.Read.All",
        ))
        .unwrap();
        assert_eq!(t.clouds, [Cloud::Commercial, Cloud::Dod]);
    }

    #[test]
    fn china_is_refused_where_graph_security_alerts_or_incidents_are_read() {
        let every = "clouds = [\"commercial\", \"gcc\", \"gcc-high\", \"dod\", \"china\"]";
        let cases = [
            (
                "graph_resources = [{ name = \"security\", relationships = [\"incidents\"] }]",
                "AuditLog.Read.All",
                "(collect reads security/incidents)",
            ),
            (
                "graph_resources = [{ name = \"security\", relationships = [\"alerts_v2\"] }]",
                "AuditLog.Read.All",
                "(collect reads security/alerts_v2)",
            ),
            (
                "graph_endpoints = [\"/security/incidents?$top=50\"]",
                "AuditLog.Read.All",
                "(collect reads /security/incidents?$top=50)",
            ),
            (
                "",
                "SecurityAlert.Read.All",
                "and SecurityAlert.Read.All is for them",
            ),
            (
                "",
                "SecurityIncident.Read.All",
                "and SecurityIncident.Read.All is for them",
            ),
        ];
        for (collect, permission, why) in cases {
            let err = check_text(&graph_template(every, collect, permission)).unwrap_err();
            assert!(
                err.starts_with("test.toml: clouds lists china, but Microsoft Graph security alerts and incidents do not exist in the China cloud")
                    && err.contains(why),
                "{collect} {permission}: {err}"
            );
            // Unlisted, china is simply not one of the template's clouds.
            let derived = check_text(&graph_template("", collect, permission)).unwrap();
            assert_eq!(
                derived.clouds,
                [Cloud::Commercial, Cloud::Gcc, Cloud::GccHigh, Cloud::Dod]
            );
            assert!(!derived.clouds.contains(&Cloud::China));
        }
        // Secure Score and sign-ins are not ruled out in China.
        let score = graph_template(
            every,
            "graph_resources = [{ name = \"security\", relationships = [\"secureScores\"] }]",
            "SecurityEvents.Read.All",
        );
        assert!(check_text(&score).unwrap().clouds.contains(&Cloud::China));
    }
}
