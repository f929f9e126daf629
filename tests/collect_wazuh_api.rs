//! `handoff collect --target wazuh-api`, the real binary, against a server
//! and a local stand-in of the Wazuh server API holding a multi-tenant
//! manager ossec.conf and a group's agent.conf: a new tenant merged into the
//! one `<office365>` block and the manager restarted, a second import that
//! sends no PUT, a rotation that changes only the secret, refusals (a bad
//! API password, the manager refusing the file) in Wazuh's own words that
//! leave the copy in the inbox, group mode with the secret inline, and a dry
//! run that reads but sends nothing, masked.

mod common;
#[path = "wazuh_server/mod.rs"]
mod wazuh_server;

use std::process::Output;

use common::api_host::ApiHost;
use common::flow::{Opened, answered_with_credential, app_with_soc};
use common::{Backend, TestApp};
use handoff::collect::masked_secret;
use wazuh_server::Wazuh;

/// A multi-tenant manager ossec.conf: Contoso (a secret file), Fabrikam
/// (inline), Northwind.
const MANAGER: &str = include_str!("fixtures/wazuh/office365-multi-tenant.conf");
/// A group's agent.conf with Contoso inline in a filtered section.
const GROUP: &str = include_str!("fixtures/wazuh/group-agent.conf");

const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CONTOSO_CLIENT: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
const NEW_TENANT: &str = "6e7f8091-a2b3-4c4d-9e5f-60718293a4b5";
const NEW_CLIENT: &str = "5d6e7f80-91a2-4b3c-8d4e-5f60718293a4";
const SECRET: &str = "Rt48Q~newContosoSecretValue-._~98765432";
const ROTATED: &str = "Yq90Q~rotatedContosoSecretValue01234567";
/// Fabrikam's inline secret in the fixture: never printed.
const FABRIKAM_SECRET: &str = "Fb22Q~oldFabrikamSecretValue0123456789a";
const USER: &str = "handoff-o365";
const PASSWORD: &str = "Wz.Api-Passw0rd*2026";

/// A collector host whose `--api-token-file` holds `USER:password`.
struct Host(ApiHost);

impl Host {
    async fn new(app: &TestApp, soc: &age::x25519::Identity, password: &str) -> Host {
        Host(ApiHost::new(app, soc, "wazuh-api", &format!("{USER}:{password}")).await)
    }

    fn set_password(&self, password: &str) {
        self.0.set_api_secret(&format!("{USER}:{password}"));
    }

    /// `handoff collect --target wazuh-api` against `wazuh`, plus `extra`.
    async fn collect(&self, app: &TestApp, wazuh: &Wazuh, extra: &[&str]) -> Output {
        self.0
            .command(app, &wazuh.base)
            .args(extra)
            .output()
            .await
            .unwrap()
    }
}

/// Answers a new o365-management request for `tenant`.
async fn answered(
    app: &TestApp,
    soc: &age::x25519::Identity,
    tenant: &str,
    client: &str,
    secret: &str,
) -> Opened {
    let credential = (tenant, client, secret);
    answered_with_credential(app, soc, "o365-management", credential, "commercial").await
}

fn assert_success(out: &Output) -> String {
    common::api_host::assert_success(out, &[SECRET, ROTATED, PASSWORD, FABRIKAM_SECRET])
}

/// The `<office365>` blocks and their `<api_auth>` tenants, read back with
/// quick-xml: (tenant, client, inline secret or secret path) in order.
fn tenants(xml: &str) -> (usize, Vec<(String, String, String)>) {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    reader.config_mut().allow_dangling_amp = true;
    let (mut blocks, mut out) = (0, Vec::new());
    let mut path: Vec<String> = Vec::new();
    let mut current = (String::new(), String::new(), String::new());
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader.read_event().unwrap();
        let raw = &xml[before..reader.buffer_position() as usize];
        match event {
            Event::Start(e) => {
                let name = e.name().0.to_owned();
                if name == "office365" {
                    blocks += 1;
                }
                path.push(name);
            }
            Event::End(_) if path.pop().as_deref() == Some("api_auth") => {
                out.push(std::mem::take(&mut current));
            }
            Event::Text(_) => {
                let t = raw.trim().to_owned();
                match path.last().map(String::as_str) {
                    Some("tenant_id") => current.0 = t,
                    Some("client_id") => current.1 = t,
                    Some("client_secret") => current.2 = format!("inline {t}"),
                    Some("client_secret_path") => current.2 = format!("path {t}"),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (blocks, out)
}

fn tenant(t: &str, c: &str, s: &str) -> (String, String, String) {
    (t.to_owned(), c.to_owned(), s.to_owned())
}

async fn a_new_tenant_joins_the_one_block_the_manager_restarts_and_a_second_import_sends_no_put(
    backend: Backend,
) {
    let (app, soc) = app_with_soc(backend).await;
    let wazuh = Wazuh::start(USER, PASSWORD, MANAGER, &[]).await;
    let host = Host::new(&app, &soc, PASSWORD).await;
    let r = answered(&app, &soc, NEW_TENANT, NEW_CLIENT, SECRET).await;

    let said = assert_success(&host.collect(&app, &wazuh, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    assert_eq!(
        wazuh.calls(),
        [
            "POST /security/user/authenticate",
            "GET /manager/configuration?raw=true",
            "PUT /manager/configuration",
            "PUT /manager/restart",
        ]
    );
    let received = wazuh.received();
    assert!(received[0].headers["authorization"].starts_with("Basic "));
    let jwt = "Bearer eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.";
    for r in &received[1..] {
        assert!(r.headers["authorization"].starts_with(jwt), "{r:?}");
    }
    assert_eq!(
        received[2].headers["content-type"],
        "application/octet-stream"
    );
    assert_eq!(wazuh.restarts(), 1);

    // The one block, one <api_auth> more, the secret inline; every other
    // byte as it was.
    let after = wazuh.ossec_conf();
    let added = format!(
        "    <api_auth>\n      <tenant_id>{NEW_TENANT}</tenant_id>\n      <client_id>{NEW_CLIENT}</client_id>\n      <client_secret>{SECRET}</client_secret>\n      <api_type>commercial</api_type>\n    </api_auth>\n"
    );
    assert_eq!(after.replacen(&added, "", 1), MANAGER, "{after}");
    let (blocks, found) = tenants(&after);
    assert_eq!(blocks, 1);
    assert_eq!(found.len(), 4);
    assert_eq!(
        found[3],
        tenant(NEW_TENANT, NEW_CLIENT, &format!("inline {SECRET}"))
    );
    assert_eq!(&found[..3], &tenants(MANAGER).1[..]);
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(
        req.imported_at.is_some(),
        "acknowledged after Wazuh confirmed"
    );

    // The same credential again: read, nothing sent, no restart.
    let again = answered(&app, &soc, NEW_TENANT, NEW_CLIENT, SECRET).await;
    let said = assert_success(&host.collect(&app, &wazuh, &[]).await);
    assert!(said.contains("summary: 0 imported, 1 unchanged"), "{said}");
    assert!(said.contains("already present Contoso"), "{said}");
    assert_eq!(
        &wazuh.calls()[4..],
        [
            "POST /security/user/authenticate",
            "GET /manager/configuration?raw=true",
        ]
    );
    assert_eq!(wazuh.restarts(), 1);
    assert_eq!(wazuh.ossec_conf(), after);
    let req = app.store.request(&again.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());
}

async fn a_rotation_changes_only_the_secret(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let wazuh = Wazuh::start(USER, PASSWORD, MANAGER, &[]).await;
    let host = Host::new(&app, &soc, PASSWORD).await;

    // Contoso had a secret file on the manager's disk, which the API cannot
    // write: the secret goes inline where the path stood.
    answered(&app, &soc, CONTOSO, CONTOSO_CLIENT, SECRET).await;
    assert_success(&host.collect(&app, &wazuh, &["--wazuh-no-restart"]).await);
    let first = wazuh.ossec_conf();
    assert_eq!(
        first,
        MANAGER.replace(
            "<client_secret_path>/var/ossec/etc/o365/contoso.secret</client_secret_path>",
            &format!("<client_secret>{SECRET}</client_secret>")
        )
    );
    assert_eq!(wazuh.restarts(), 0, "--wazuh-no-restart");

    answered(&app, &soc, CONTOSO, CONTOSO_CLIENT, ROTATED).await;
    let said = assert_success(&host.collect(&app, &wazuh, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    assert_eq!(wazuh.ossec_conf(), first.replace(SECRET, ROTATED));
    assert_eq!(wazuh.restarts(), 1);
    let (blocks, found) = tenants(&wazuh.ossec_conf());
    assert_eq!((blocks, found.len()), (1, 3));
}

/// A refused change: nothing acknowledged, the lease released with Wazuh's
/// words in the PM's trail, the copy left in the inbox.
async fn refused(app: &TestApp, host: &Host, wazuh: &Wazuh, r: &Opened, words: &[&str]) {
    let out = host.collect(app, wazuh, &[]).await;
    common::api_host::assert_refused(app, &out, &r.id, words, &[SECRET, PASSWORD]).await;
}

async fn refusals_leave_the_copy_in_the_inbox_in_wazuhs_words(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let wazuh = Wazuh::start(USER, PASSWORD, MANAGER, &[]).await;
    let host = Host::new(&app, &soc, "an-old-password").await;
    let r = answered(&app, &soc, NEW_TENANT, NEW_CLIENT, SECRET).await;

    refused(
        &app,
        &host,
        &wazuh,
        &r,
        &[
            "POST",
            "/security/user/authenticate was refused: 401 Unauthorized",
            "Unauthorized; Invalid credentials",
        ],
    )
    .await;
    assert_eq!(wazuh.calls(), ["POST /security/user/authenticate"]);

    host.set_password(PASSWORD);
    wazuh.refuse_configuration("wazuh-modulesd: office365: invalid content for tag 'api_auth'");
    refused(
        &app,
        &host,
        &wazuh,
        &r,
        &[
            "/manager/configuration was not done: 200 OK, but Wazuh said: Could not update configuration",
            "Invalid ossec configuration: wazuh-modulesd: office365: invalid content for tag 'api_auth' (error 1125)",
        ],
    )
    .await;
    assert_eq!(
        &wazuh.calls()[1..],
        [
            "POST /security/user/authenticate",
            "GET /manager/configuration?raw=true",
            "PUT /manager/configuration",
        ],
        "no restart after a refusal"
    );
    assert_eq!(wazuh.ossec_conf(), MANAGER);
    assert_eq!(wazuh.restarts(), 0);
}

async fn group_mode_writes_agent_conf_with_the_secret_inline(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let wazuh = Wazuh::start(USER, PASSWORD, MANAGER, &[("o365", GROUP)]).await;
    let host = Host::new(&app, &soc, PASSWORD).await;
    answered(&app, &soc, CONTOSO, CONTOSO_CLIENT, SECRET).await;

    let said = assert_success(&host.collect(&app, &wazuh, &["--wazuh-group", "o365"]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    assert_eq!(
        wazuh.calls(),
        [
            "POST /security/user/authenticate",
            "GET /groups/o365/files/agent.conf?raw=true",
            "PUT /groups/o365/configuration",
        ],
        "a group's agents restart themselves"
    );
    assert_eq!(
        wazuh.received()[2].headers["content-type"],
        "application/xml"
    );
    assert_eq!(
        wazuh.group_conf("o365"),
        GROUP.replace("Kx71Q~oldContosoSecretValue0123456789ab", SECRET)
    );
    assert_eq!(wazuh.ossec_conf(), MANAGER, "the manager's file untouched");
    assert_eq!(wazuh.restarts(), 0);
}

async fn a_dry_run_reads_but_sends_nothing_and_masks(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let wazuh = Wazuh::start(USER, PASSWORD, MANAGER, &[]).await;
    let host = Host::new(&app, &soc, PASSWORD).await;
    let r = answered(&app, &soc, NEW_TENANT, NEW_CLIENT, SECRET).await;

    let said = assert_success(&host.collect(&app, &wazuh, &["--dry-run"]).await);
    assert_eq!(
        wazuh.calls(),
        [
            "POST /security/user/authenticate",
            "GET /manager/configuration?raw=true",
        ]
    );
    let put = format!(
        "PUT {}/manager/configuration\nAuthorization: Bearer ********\nContent-Type: application/octet-stream\n\n",
        wazuh.base
    );
    assert!(said.contains(&put), "{put}\nin\n{said}");
    assert!(
        said.contains(&format!(
            "      <client_secret>{}</client_secret>\n",
            masked_secret(SECRET)
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "      <client_secret>{}</client_secret>\n",
            masked_secret(FABRIKAM_SECRET)
        )),
        "another tenant's secret is masked too: {said}"
    );
    assert!(
        said.contains(&format!(
            "PUT {}/manager/restart\nAuthorization: Bearer ********\n",
            wazuh.base
        )),
        "{said}"
    );
    assert!(!said.contains("eyJ"), "the JWT is never shown: {said}");
    assert!(said.contains("nothing written or sent"), "{said}");
    assert_eq!(wazuh.ossec_conf(), MANAGER);
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
}

with_each_backend!(
    a_new_tenant_joins_the_one_block_the_manager_restarts_and_a_second_import_sends_no_put,
    a_rotation_changes_only_the_secret,
    refusals_leave_the_copy_in_the_inbox_in_wazuhs_words,
    group_mode_writes_agent_conf_with_the_secret_inline,
    a_dry_run_reads_but_sends_nothing_and_masks,
);
