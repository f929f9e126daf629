//! The Azure CLI script for customers who prefer `az` to the portal,
//! generated from a template's permissions.

use std::fmt::Write as _;

use super::{Cloud, Integration};

/// `'...'` for a POSIX shell: custom titles must not run anything.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// How often, and how far apart in seconds, the script retries a step that
/// needs the new app to have replicated across the directory.
const AZ_TRIES: u32 = 6;
const AZ_PAUSE_SECONDS: u32 = 10;

/// The commands that add a new client secret to the existing app
/// registration `client_id` in a tenant in `cloud`, for a rotation request:
/// `--append` keeps the current secret working until the SOC has switched.
pub(crate) fn rotation_script(client_id: &str, cloud: Cloud) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# A new client secret for the app registration you already have: run in bash as an administrator of your tenant."
    );
    let _ = writeln!(out, "az cloud set --name {}", cloud.az_cloud_name());
    let _ = writeln!(out, "az login --allow-no-subscriptions");
    let _ = writeln!(
        out,
        "az ad app credential reset --id {} --append --display-name handoff-rotation --years 2",
        shell_quote(client_id)
    );
    out
}

/// The script for `i` and a tenant in `cloud`; see
/// [`Integration::az_script`].
pub(super) fn script(i: &Integration, cloud: Cloud) -> String {
    let mut out = String::new();
    let name = format!("{} (SOC log collection)", i.title);
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "# {}: run in bash as an administrator of your tenant who can grant admin consent.",
        i.title
    );
    let _ = writeln!(out, "az cloud set --name {}", cloud.az_cloud_name());
    let _ = writeln!(out, "az login --allow-no-subscriptions");
    let _ = writeln!(
        out,
        "# A new app takes a moment to reach every directory replica: retry() tries a command up to {AZ_TRIES} times, {AZ_PAUSE_SECONDS} seconds apart."
    );
    let _ = writeln!(
        out,
        "retry() {{ for attempt in $(seq {AZ_TRIES}); do \"$@\" && return 0; [ \"$attempt\" -lt {AZ_TRIES} ] && sleep {AZ_PAUSE_SECONDS}; done; echo \"Gave up after {AZ_TRIES} tries: $*\" >&2; return 1; }}"
    );
    let _ = writeln!(
        out,
        "APP_ID=$(az ad app create --display-name {} --query appId --output tsv)",
        shell_quote(&name)
    );
    let _ = writeln!(out, "retry az ad sp create --id \"$APP_ID\" --output none");
    let mut role_var = 0;
    for (api, api_app_id, perms) in i.permissions_by_api() {
        let names: Vec<String> = perms
            .iter()
            .map(|p| {
                if p.optional {
                    format!("{} (optional)", p.name)
                } else {
                    p.name.clone()
                }
            })
            .collect();
        let _ = writeln!(out, "# {api}: {}", names.join(", "));
        if cloud.is_az_commercial() {
            for p in perms.iter().filter(|p| !p.verified) {
                let _ = writeln!(
                    out,
                    "# {}: this app-role id is not confirmed against Microsoft's reference; check it in the portal.",
                    p.name
                );
            }
            let roles: Vec<String> = perms.iter().map(|p| format!("{}=Role", p.id)).collect();
            let _ = writeln!(
                out,
                "az ad app permission add --id \"$APP_ID\" --api {api_app_id} --api-permissions {}",
                roles.join(" ")
            );
            continue;
        }
        let _ = writeln!(
            out,
            "# App-role ids differ between clouds, so each is looked up by name in this cloud's own {api} service principal."
        );
        for p in perms {
            role_var += 1;
            let var = format!("ROLE_{role_var}");
            let _ = writeln!(
                out,
                "{var}=$(az ad sp show --id {api_app_id} --query \"appRoles[?value=='{}'].id\" --output tsv)",
                p.name
            );
            let missing = if p.optional {
                format!(
                    "{} is not offered in this cloud; it is optional, so carry on and tell the SOC.",
                    p.name
                )
            } else {
                format!("{} is not offered in this cloud; tell the SOC.", p.name)
            };
            let _ = writeln!(
                out,
                "if [ -n \"${var}\" ]; then az ad app permission add --id \"$APP_ID\" --api {api_app_id} --api-permissions \"${var}=Role\"; else echo {} >&2; fi",
                shell_quote(&missing)
            );
        }
    }
    if cloud.is_az_commercial() {
        let _ = writeln!(
            out,
            "retry az ad app permission admin-consent --id \"$APP_ID\""
        );
    } else {
        let _ = writeln!(
            out,
            "TENANT_ID=$(az account show --query tenantId --output tsv)"
        );
        let _ = writeln!(
            out,
            "# az grants admin consent only in the commercial cloud: open this address as an administrator who may consent for the whole organisation, and accept."
        );
        let _ = writeln!(
            out,
            "echo \"https://{}/$TENANT_ID/adminconsent?client_id=$APP_ID\"",
            cloud.login_host()
        );
        let _ = writeln!(
            out,
            "# Then check under App registrations, API permissions, that every permission shows a green tick; where one does not, choose \"Grant admin consent\" there."
        );
    }
    let _ = writeln!(
        out,
        "# Prints the appId, password and tenant as JSON: paste that JSON into the form."
    );
    let _ = writeln!(out, "az ad app credential reset --id \"$APP_ID\" --years 1");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_rotation_script_adds_a_secret_to_the_same_app() {
        let s = super::rotation_script(
            "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11",
            super::Cloud::Commercial,
        );
        assert!(s.contains("az login --allow-no-subscriptions\n"), "{s}");
        assert!(s.ends_with(
            "az ad app credential reset --id '0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11' --append --display-name handoff-rotation --years 2\n"
        ), "{s}");
    }

    use super::*;
    use crate::integration::Integrations;
    use crate::integration::check::sample::*;

    #[test]
    fn az_commands_are_generated_from_the_permissions() {
        let all = Integrations::builtin();
        for i in all.all() {
            let az = i.az_script(Cloud::Commercial).unwrap();
            assert!(
                az.contains("APP_ID=$(az ad app create --display-name '"),
                "{az}"
            );
            assert!(az.contains("retry az ad sp create --id \"$APP_ID\" --output none\n"));
            assert!(az.contains("retry az ad app permission admin-consent --id \"$APP_ID\"\n"));
            assert!(az.ends_with("az ad app credential reset --id \"$APP_ID\" --years 1\n"));
            for p in &i.permissions {
                let line = az
                    .lines()
                    .find(|l| l.contains(&format!("{}=Role", p.id)))
                    .unwrap_or_else(|| panic!("{}: no line for {}:\n{az}", i.id, p.name));
                assert!(
                    line.starts_with(&format!(
                        "az ad app permission add --id \"$APP_ID\" --api {} --api-permissions ",
                        p.api_app_id
                    )),
                    "{line}"
                );
            }
            let adds = az.matches("az ad app permission add").count();
            assert_eq!(adds, i.permissions_by_api().len(), "one add per API");
        }
        let defender = all.get("defender-incidents").unwrap();
        let az = defender.az_script(Cloud::Commercial).unwrap();
        assert!(az.contains("# CustomDetection.Read.All: this app-role id is not confirmed"));
        assert!(az.contains(
            "# Microsoft Graph: SecurityIncident.Read.All, SecurityAlert.Read.All, CustomDetection.Read.All (optional)\n"
        ));
        let o365 = all.get("o365-management").unwrap();
        assert!(o365.az_script(Cloud::Commercial).unwrap().contains(
            "--api c5393580-f805-4401-95e8-94b7a6ef2fc2 --api-permissions 594c1fb6-4f81-4475-ae41-0c394909246c=Role 4807a72c-ad38-4250-94c9-4eabfe26cd55=Role\n"
        ));
    }

    /// `bash -n`: the script parses as bash.
    fn bash_parses(script: &str) -> Result<(), String> {
        use std::io::Write;
        let mut child = std::process::Command::new("bash")
            .arg("-n")
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The lines bash runs, comments left out.
    fn commands(script: &str) -> Vec<&str> {
        script.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn az_scripts_fit_each_cloud_the_template_accepts() {
        let all = Integrations::builtin();
        let mut sovereign_scripts = 0;
        for i in all.all() {
            for cloud in Cloud::ALL {
                let Some(az) = i.az_script(cloud) else {
                    assert!(!i.clouds.contains(&cloud), "{} {cloud:?}", i.id);
                    continue;
                };
                let context = format!("{} in {}:\n{az}", i.id, cloud.as_str());
                bash_parses(&az).unwrap_or_else(|e| panic!("{context}\n{e}"));
                let run = commands(&az);
                // The cloud is set, and the admin signed in to it, before anything else.
                assert_eq!(
                    run[..2],
                    [
                        format!("az cloud set --name {}", cloud.az_cloud_name()).as_str(),
                        "az login --allow-no-subscriptions"
                    ],
                    "{context}"
                );
                let expected_cloud = match cloud {
                    Cloud::Commercial | Cloud::Gcc => "AzureCloud",
                    Cloud::GccHigh | Cloud::Dod => "AzureUSGovernment",
                    Cloud::China => "AzureChinaCloud",
                };
                assert_eq!(cloud.az_cloud_name(), expected_cloud);
                let consent_runs = run.iter().any(|l| l.contains("admin-consent"));
                if cloud.is_az_commercial() {
                    assert!(consent_runs, "{context}");
                    continue;
                }
                sovereign_scripts += 1;
                assert!(!consent_runs, "az refuses admin-consent here: {context}");
                let host = match cloud {
                    Cloud::China => "login.chinacloudapi.cn",
                    _ => "login.microsoftonline.us",
                };
                assert!(
                    run.contains(
                        &format!(
                            "echo \"https://{host}/$TENANT_ID/adminconsent?client_id=$APP_ID\""
                        )
                        .as_str()
                    ),
                    "{context}"
                );
                assert!(
                    run.contains(&"TENANT_ID=$(az account show --query tenantId --output tsv)")
                );
                for (n, p) in i.permissions.iter().enumerate() {
                    // Resolved by name in this cloud: the pinned commercial id never appears.
                    assert!(!az.contains(&p.id), "{}: {context}", p.name);
                    let var = format!("ROLE_{}", n + 1);
                    assert!(
                        run.contains(
                            &format!(
                                "{var}=$(az ad sp show --id {} --query \"appRoles[?value=='{}'].id\" --output tsv)",
                                p.api_app_id, p.name
                            )
                            .as_str()
                        ),
                        "{}: {context}",
                        p.name
                    );
                    assert!(
                        az.contains(&format!(
                            "if [ -n \"${var}\" ]; then az ad app permission add --id \"$APP_ID\" --api {} --api-permissions \"${var}=Role\"; else echo '{} is not offered in this cloud;",
                            p.api_app_id, p.name
                        )),
                        "{}: {context}",
                        p.name
                    );
                }
            }
        }
        // GCC High and DoD for every template; China for identity-protection.
        assert_eq!(sovereign_scripts, 5 * 2 + 1);
    }

    #[test]
    fn the_retry_in_the_script_is_bounded_and_stops_at_the_first_success() {
        let az = Integrations::builtin()
            .get("o365-management")
            .unwrap()
            .az_script(Cloud::Commercial)
            .unwrap();
        let retry = az
            .lines()
            .find(|l| l.starts_with("retry() {"))
            .unwrap()
            .to_owned();
        // `sleep` is stubbed out and counted; `flaky N` fails until its Nth call.
        let run = |calls_to_success: u32| -> (bool, String) {
            let script = format!(
                "sleep() {{ echo \"slept $1\"; }}\ncalls=0\nflaky() {{ calls=$((calls+1)); echo \"call $calls\"; [ \"$calls\" -ge {calls_to_success} ]; }}\n{retry}\nretry flaky\n"
            );
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(&script)
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        };
        let (ok, out) = run(3);
        assert!(ok);
        assert_eq!(out, "call 1\nslept 10\ncall 2\nslept 10\ncall 3\n");
        let (ok, out) = run(100);
        assert!(!ok, "gives up");
        assert_eq!(out.matches("call ").count(), 6, "{out}");
        assert_eq!(
            out.matches("slept 10").count(),
            5,
            "no pause after the last try: {out}"
        );
    }

    #[test]
    fn az_display_name_is_shell_quoted() {
        let text = minimal("quoted").replace("title = \"Custom\"", "title = \"It's $(rm -rf /)\"");
        let i = check_text(&text).unwrap();
        let az = i.az_script(Cloud::Commercial).unwrap();
        assert!(
            az.contains("--display-name 'It'\\''s $(rm -rf /) (SOC log collection)' --query"),
            "{az}"
        );
    }
}
