//! The Azure CLI script for customers who prefer `az` to the portal,
//! generated from a template's permissions, in Bash or in PowerShell.
//!
//! Both shells run the same `az` commands with the same arguments (a test
//! holds them together); only the shell's own syntax differs: variables,
//! quoting, the retry loop, the conditional. Display names keep to
//! characters that mean nothing to either shell or to Windows' `cmd.exe`,
//! which runs `az.cmd` under PowerShell on Windows and would expand `%...%`
//! and strip `"` even inside quotes.

use std::fmt::Write as _;

use super::{Cloud, Integration};

/// The shell an `az` script is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    /// Bash (Linux, macOS, WSL, Azure Cloud Shell's Bash).
    Bash,
    /// Windows PowerShell 5.1 or PowerShell 7 (Windows, or Cloud Shell's
    /// PowerShell).
    PowerShell,
}

/// The values a script keeps between commands.
#[derive(Clone, Copy)]
enum Var {
    AppId,
    TenantId,
    /// The n-th app role looked up by name (outside the commercial cloud).
    Role(usize),
}

/// A piece of a double-quoted string: literal text or a variable.
enum Part<'a> {
    Text(&'a str),
    Var(Var),
}

impl Shell {
    /// All shells, in the order the page offers them.
    pub const ALL: [Shell; 2] = [Shell::Bash, Shell::PowerShell];

    /// The name people know the shell by.
    pub fn label(self) -> &'static str {
        match self {
            Shell::Bash => "Bash",
            Shell::PowerShell => "PowerShell",
        }
    }

    /// The short lowercase name used in element ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::PowerShell => "powershell",
        }
    }

    /// `s` as one literal word: single quotes in both shells, where
    /// nothing is expanded (Bash closes and reopens the quote around a `'`,
    /// PowerShell doubles it).
    fn quote(self, s: &str) -> String {
        match self {
            Shell::Bash => format!("'{}'", s.replace('\'', r"'\''")),
            Shell::PowerShell => format!("'{}'", s.replace('\'', "''")),
        }
    }

    fn var_name(self, v: Var) -> String {
        match (self, v) {
            (Shell::Bash, Var::AppId) => "APP_ID".into(),
            (Shell::Bash, Var::TenantId) => "TENANT_ID".into(),
            (Shell::Bash, Var::Role(n)) => format!("ROLE_{n}"),
            (Shell::PowerShell, Var::AppId) => "AppId".into(),
            (Shell::PowerShell, Var::TenantId) => "TenantId".into(),
            (Shell::PowerShell, Var::Role(n)) => format!("Role{n}"),
        }
    }

    /// A double-quoted word with the variables expanded; literal parts hold
    /// no quote, `$` or backtick (host names and fixed words only).
    fn expand(self, parts: &[Part<'_>]) -> String {
        let mut out = String::from("\"");
        for part in parts {
            match part {
                Part::Text(t) => {
                    debug_assert!(!t.contains(['"', '$', '`', '\\']), "{t}");
                    out.push_str(t);
                }
                Part::Var(v) => {
                    out.push('$');
                    out.push_str(&self.var_name(*v));
                }
            }
        }
        out.push('"');
        out
    }

    /// `var` as a whole argument.
    fn arg(self, v: Var) -> String {
        self.expand(&[Part::Var(v)])
    }

    /// Keeps the output of `command` in `var`.
    fn assign(self, v: Var, command: &str) -> String {
        match self {
            Shell::Bash => format!("{}=$({command})", self.var_name(v)),
            Shell::PowerShell => format!("${} = {command}", self.var_name(v)),
        }
    }

    /// The retry helper: a command is tried up to [`AZ_TRIES`] times,
    /// [`AZ_PAUSE_SECONDS`] apart, and the script stops when it never
    /// succeeds.
    fn retry_definition(self) -> String {
        match self {
            Shell::Bash => format!(
                "retry() {{ for attempt in $(seq {AZ_TRIES}); do \"$@\" && return 0; [ \"$attempt\" -lt {AZ_TRIES} ] && sleep {AZ_PAUSE_SECONDS}; done; echo \"Gave up after {AZ_TRIES} tries: $*\" >&2; return 1; }}"
            ),
            Shell::PowerShell => format!(
                "function Invoke-Retry([scriptblock]$Step) {{ for ($attempt = 1; $attempt -le {AZ_TRIES}; $attempt++) {{ & $Step; if ($LASTEXITCODE -eq 0) {{ return }}; if ($attempt -lt {AZ_TRIES}) {{ Start-Sleep -Seconds {AZ_PAUSE_SECONDS} }} }}; throw \"Gave up after {AZ_TRIES} tries: $Step\" }}"
            ),
        }
    }

    fn retry(self, command: &str) -> String {
        match self {
            Shell::Bash => format!("retry {command}"),
            Shell::PowerShell => format!("Invoke-Retry {{ {command} }}"),
        }
    }

    /// Runs `command` when `v` is not empty, else prints `otherwise`.
    fn if_set(self, v: Var, command: &str, otherwise: &str) -> String {
        match self {
            Shell::Bash => format!(
                "if [ -n {} ]; then {command}; else echo {} >&2; fi",
                self.arg(v),
                self.quote(otherwise)
            ),
            Shell::PowerShell => format!(
                "if (${}) {{ {command} }} else {{ Write-Warning {} }}",
                self.var_name(v),
                self.quote(otherwise)
            ),
        }
    }

    fn echo(self, word: &str) -> String {
        match self {
            Shell::Bash => format!("echo {word}"),
            Shell::PowerShell => format!("Write-Output {word}"),
        }
    }

    /// What the first comment line says about where to run the script.
    fn where_to_run(self) -> &'static str {
        match self {
            Shell::Bash => "run in bash",
            Shell::PowerShell => "run in PowerShell",
        }
    }
}

/// How often, and how far apart in seconds, the script retries a step that
/// needs the new app to have replicated across the directory.
const AZ_TRIES: u32 = 6;
const AZ_PAUSE_SECONDS: u32 = 10;

/// The app's display name for `title`: letters, digits and
/// ` -_.,()&'+/:` are kept, anything else becomes `-`, so that no shell
/// (and no `cmd.exe` behind PowerShell) reads anything into it.
fn display_name(title: &str) -> String {
    let kept: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " -_.,()&'+/:".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{kept} (SOC log collection)")
}

/// The commands that add a new client secret to the existing app
/// registration `client_id` in a tenant in `cloud`, for a rotation request:
/// `--append` keeps the current secret working until the SOC has switched.
pub(crate) fn rotation_script(client_id: &str, cloud: Cloud, shell: Shell) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# A new client secret for the app registration you already have: {} as an administrator of your tenant.",
        shell.where_to_run()
    );
    let _ = writeln!(out, "az cloud set --name {}", cloud.az_cloud_name());
    let _ = writeln!(out, "az login --allow-no-subscriptions");
    let _ = writeln!(
        out,
        "az ad app credential reset --id {} --append --display-name handoff-rotation --years 2",
        shell.quote(client_id)
    );
    out
}

/// The script for `i` and a tenant in `cloud`, in `shell`; see
/// [`Integration::az_script`].
pub(super) fn script(i: &Integration, cloud: Cloud, shell: Shell) -> String {
    let mut out = String::new();
    let app = shell.arg(Var::AppId);
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "# {}: {} as an administrator of your tenant who can grant admin consent.",
        i.title,
        shell.where_to_run()
    );
    let _ = writeln!(out, "az cloud set --name {}", cloud.az_cloud_name());
    let _ = writeln!(out, "az login --allow-no-subscriptions");
    let _ = writeln!(
        out,
        "# A new app takes a moment to reach every directory replica: {} tries a command up to {AZ_TRIES} times, {AZ_PAUSE_SECONDS} seconds apart.",
        match shell {
            Shell::Bash => "retry()",
            Shell::PowerShell => "Invoke-Retry",
        }
    );
    let _ = writeln!(out, "{}", shell.retry_definition());
    let _ = writeln!(
        out,
        "{}",
        shell.assign(
            Var::AppId,
            &format!(
                "az ad app create --display-name {} --query appId --output tsv",
                shell.quote(&display_name(&i.title))
            )
        )
    );
    let _ = writeln!(
        out,
        "{}",
        shell.retry(&format!("az ad sp create --id {app} --output none"))
    );
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
                "az ad app permission add --id {app} --api {api_app_id} --api-permissions {}",
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
            let var = Var::Role(role_var);
            let _ = writeln!(
                out,
                "{}",
                shell.assign(
                    var,
                    &format!(
                        "az ad sp show --id {api_app_id} --query \"appRoles[?value=='{}'].id\" --output tsv",
                        p.name
                    )
                )
            );
            let missing = if p.optional {
                format!(
                    "{} is not offered in this cloud; it is optional, so carry on and tell the SOC.",
                    p.name
                )
            } else {
                format!("{} is not offered in this cloud; tell the SOC.", p.name)
            };
            let add = format!(
                "az ad app permission add --id {app} --api {api_app_id} --api-permissions {}",
                shell.expand(&[Part::Var(var), Part::Text("=Role")])
            );
            let _ = writeln!(out, "{}", shell.if_set(var, &add, &missing));
        }
    }
    if cloud.is_az_commercial() {
        let _ = writeln!(
            out,
            "{}",
            shell.retry(&format!("az ad app permission admin-consent --id {app}"))
        );
    } else {
        let _ = writeln!(
            out,
            "{}",
            shell.assign(
                Var::TenantId,
                "az account show --query tenantId --output tsv"
            )
        );
        let _ = writeln!(
            out,
            "# az grants admin consent only in the commercial cloud: open this address as an administrator who may consent for the whole organisation, and accept."
        );
        let prefix = format!("https://{}/", cloud.login_host());
        let _ = writeln!(
            out,
            "{}",
            shell.echo(&shell.expand(&[
                Part::Text(&prefix),
                Part::Var(Var::TenantId),
                Part::Text("/adminconsent?client_id="),
                Part::Var(Var::AppId),
            ]))
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
    let _ = writeln!(out, "az ad app credential reset --id {app} --years 1");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_rotation_script_adds_a_secret_to_the_same_app() {
        let s = super::rotation_script(
            "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11",
            super::Cloud::Commercial,
            super::Shell::Bash,
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
        for i in all.all().iter().filter(|i| !i.permissions.is_empty()) {
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
            az.contains("--display-name 'It'\\''s -(rm -rf /) (SOC log collection)' --query"),
            "{az}"
        );
        let ps = i
            .az_script_in(Cloud::Commercial, Shell::PowerShell)
            .unwrap();
        assert!(
            ps.contains("--display-name 'It''s -(rm -rf /) (SOC log collection)' --query"),
            "{ps}"
        );
        // What cmd.exe (behind az.cmd on Windows) or either shell would read
        // something into never reaches the command line.
        let text = minimal("quoted").replace(
            "title = \"Custom\"",
            "title = 'Say \"hi\" 100% `whoami` ${x} & Co'",
        );
        let i = check_text(&text).unwrap();
        for shell in Shell::ALL {
            let az = i.az_script_in(Cloud::Commercial, shell).unwrap();
            assert!(
                az.contains(
                    "--display-name 'Say -hi- 100- -whoami- --x- & Co (SOC log collection)'"
                ),
                "{az}"
            );
        }
    }

    /// The `az` calls a Bash script makes, each as its argument list, and
    /// what it prints, run by bash itself with `az` replaced by a function
    /// that records its arguments and answers like [`az_answer`].
    fn bash_run(script: &str) -> (Vec<Vec<String>>, Vec<String>) {
        let stub = r#"az() { printf 'az' >&2; printf '\037%s' "$@" >&2; printf '\n' >&2
  case "$1 $2 $3" in
    "ad app create") echo app-id ;;
    "ad sp show") echo role-id ;;
    "account show --query") echo tenant-id ;;
  esac; }
"#;
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{stub}{script}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let calls = String::from_utf8(out.stderr)
            .unwrap()
            .lines()
            .map(|l| l.split('\x1f').map(str::to_owned).collect())
            .collect();
        let printed = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        (calls, printed)
    }

    /// What the stubbed `az` prints for `args` (the same in both runs).
    fn az_answer(args: &[String]) -> &'static str {
        match args.get(1..4).map(|a| a.join(" ")).as_deref() {
            Some("ad app create") => "app-id",
            Some("ad sp show") => "role-id",
            Some("account show --query") => "tenant-id",
            _ => "",
        }
    }

    /// The words of a PowerShell command line, for the subset the
    /// generator writes: bare words, `'...'` (a `''` is one quote) and
    /// `"..."` with `$Name` expanded from `vars`. Anything else (a
    /// backtick, a subexpression, a bare `$`) fails the test.
    fn powershell_words(
        line: &str,
        vars: &std::collections::HashMap<String, String>,
    ) -> Vec<String> {
        let mut words = Vec::new();
        let mut chars = line.chars().peekable();
        let expand = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> String {
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_ascii_alphanumeric() || c == '_' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            vars.get(&name)
                .unwrap_or_else(|| panic!("${name} is not set: {line}"))
                .clone()
        };
        while let Some(&c) = chars.peek() {
            if c == ' ' {
                chars.next();
                continue;
            }
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                match c {
                    ' ' => break,
                    '\'' => {
                        chars.next();
                        loop {
                            match chars.next().expect("an unclosed '") {
                                '\'' if chars.peek() == Some(&'\'') => {
                                    chars.next();
                                    word.push('\'');
                                }
                                '\'' => break,
                                c => word.push(c),
                            }
                        }
                    }
                    '"' => {
                        chars.next();
                        loop {
                            match chars.next().expect("an unclosed \"") {
                                '"' => break,
                                '$' => word.push_str(&expand(&mut chars)),
                                c @ ('`' | '\\') => panic!("{c} in a double-quoted word: {line}"),
                                c => word.push(c),
                            }
                        }
                    }
                    '$' => {
                        chars.next();
                        word.push_str(&expand(&mut chars));
                    }
                    c @ ('`' | '(' | ')' | '{' | '}' | ';' | '|' | '&' | '@') => {
                        panic!("{c} outside quotes: {line}")
                    }
                    c => {
                        chars.next();
                        word.push(c);
                    }
                }
            }
            words.push(word);
        }
        words
    }

    /// The `az` calls a PowerShell script makes and what it prints, for
    /// the statements the generator writes (assignment, `Invoke-Retry`,
    /// `if ($X) {...} else { Write-Warning ... }`, `Write-Output`, a plain
    /// command), with `az` answering like [`az_answer`]. A statement of
    /// any other shape fails the test.
    fn powershell_run(script: &str) -> (Vec<Vec<String>>, Vec<String>) {
        let mut vars = std::collections::HashMap::new();
        let mut calls = Vec::new();
        let mut printed = Vec::new();
        let mut az = |line: &str, vars: &std::collections::HashMap<String, String>| {
            let words = powershell_words(line, vars);
            assert_eq!(words[0], "az", "{line}");
            let answer = az_answer(&words);
            calls.push(words);
            answer.to_owned()
        };
        for line in script.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("function Invoke-Retry([scriptblock]$Step) {") {
                continue;
            }
            if let Some(rest) = line.strip_prefix('$') {
                let (name, command) = rest.split_once(" = ").expect("an assignment");
                let value = az(command, &vars);
                vars.insert(name.to_owned(), value);
            } else if let Some(inner) = line
                .strip_prefix("Invoke-Retry { ")
                .and_then(|l| l.strip_suffix(" }"))
            {
                az(inner, &vars);
            } else if let Some(rest) = line.strip_prefix("if ($") {
                let (name, rest) = rest.split_once(") { ").expect("if ($X) { ");
                let (then, otherwise) = rest.split_once(" } else { Write-Warning ").expect("else");
                let otherwise = otherwise.strip_suffix(" }").expect("a closing brace");
                if vars.get(name).is_some_and(|v| !v.is_empty()) {
                    az(then, &vars);
                } else {
                    printed.extend(powershell_words(otherwise, &vars));
                }
            } else if let Some(word) = line.strip_prefix("Write-Output ") {
                printed.extend(powershell_words(word, &vars));
            } else {
                az(line, &vars);
            }
        }
        (calls, printed)
    }

    #[test]
    fn powershell_runs_the_same_az_commands_as_bash() {
        let all = Integrations::builtin();
        let mut compared = 0;
        for i in all.all() {
            for cloud in Cloud::ALL {
                let (Some(bash), Some(ps)) =
                    (i.az_script(cloud), i.az_script_in(cloud, Shell::PowerShell))
                else {
                    continue;
                };
                let context = format!("{} in {}:\n{bash}\n{ps}", i.id, cloud.as_str());
                let (bash_calls, bash_printed) = bash_run(&bash);
                let (ps_calls, ps_printed) = powershell_run(&ps);
                assert!(bash_calls.len() >= 6, "{context}");
                assert_eq!(ps_calls, bash_calls, "{context}");
                assert_eq!(ps_printed, bash_printed, "{context}");
                assert!(ps.starts_with(&format!("# {}: run in PowerShell", i.title)));
                compared += 1;
            }
        }
        // Every template in every cloud it accepts: the five built-in ones
        // in commercial, GCC, GCC High and DoD, identity-protection in China too.
        assert_eq!(compared, 5 * 4 + 1);
        for shell in Shell::ALL {
            let rotation = rotation_script(
                "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11",
                Cloud::GccHigh,
                shell,
            );
            let (calls, _) = match shell {
                Shell::Bash => bash_run(&rotation),
                Shell::PowerShell => powershell_run(&rotation),
            };
            assert_eq!(
                calls.last().unwrap().join(" "),
                "az ad app credential reset --id 0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11 --append --display-name handoff-rotation --years 2"
            );
            assert_eq!(calls[0].join(" "), "az cloud set --name AzureUSGovernment");
        }
    }

    #[test]
    fn the_powershell_retry_is_bounded_like_bash_s() {
        let ps = Integrations::builtin()
            .get("o365-management")
            .unwrap()
            .az_script_in(Cloud::Commercial, Shell::PowerShell)
            .unwrap();
        let retry = ps
            .lines()
            .find(|l| l.starts_with("function Invoke-Retry"))
            .unwrap();
        assert_eq!(
            retry,
            "function Invoke-Retry([scriptblock]$Step) { for ($attempt = 1; $attempt -le 6; $attempt++) { & $Step; if ($LASTEXITCODE -eq 0) { return }; if ($attempt -lt 6) { Start-Sleep -Seconds 10 } }; throw \"Gave up after 6 tries: $Step\" }"
        );
        assert!(ps.contains("Invoke-Retry { az ad sp create --id \"$AppId\" --output none }\n"));
        assert!(
            ps.contains("Invoke-Retry { az ad app permission admin-consent --id \"$AppId\" }\n")
        );
    }
}
