//! `handoff collect --target splunk-o365`, the real binary, against a
//! server and a local stand-in of splunkd with the Splunk Add-on for
//! Microsoft Office 365: a new tenant becomes one add-on tenant and an input
//! per content type, a second import sends no write, a rotation updates
//! only the secret, another cloud with the same secret is an edit that does
//! not send it, a user who may not read stored secrets re-sends the same
//! one and changes nothing, refusals (a bad token, Microsoft refusing the
//! secret, the add-on missing, a DoD tenant) leave the copy in the inbox
//! with splunkd's words, and a dry run reads but sends nothing, masked.

mod common;
#[path = "splunk_server/mod.rs"]
mod splunk_server;
#[path = "standin/mod.rs"]
mod standin;

use std::collections::BTreeMap;
use std::process::Output;

use common::api_host::ApiHost;
use common::flow::{Opened, answered_with_credential, app_with_soc};
use common::{Backend, TestApp};
use handoff::collect::masked_secret;
use splunk_server::{Splunk, Stanza, form};

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CLIENT: &str = "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d";
const SECRET: &str = "Rt48Q~newContosoSecretValue-._~98765432";
const ROTATED: &str = "Yq90Q~rotatedContosoSecretValue01234567";
const TOKEN: &str = "eyJraWQiOiJzcGx1bmsuc2VjcmV0IiwiYWxnIjoiSFM1MTIifQ.handoffToken.sig";
const PASSWORD: &str = "Sp1unk:pass-word";

const NAME: &str = "handoff_72f988bf_86f1_41af_91ab_2d7cd011db47";
const CONTENT_TYPES: [&str; 5] = [
    "Audit.AzureActiveDirectory",
    "Audit.Exchange",
    "Audit.SharePoint",
    "Audit.General",
    "DLP.All",
];

const LIST_TENANTS: &str = "GET /splunk_ta_o365_tenants?output_mode=json&count=0";
const READ_SECRET: &str = "GET /splunk_ta_o365_tenants/handoff_72f988bf_86f1_41af_91ab_2d7cd011db47?output_mode=json&--cred--=1";
const LIST_INPUTS: &str = "GET /splunk_ta_o365_mgmt_activity?output_mode=json&count=0";
const EDIT_TENANT: &str =
    "POST /splunk_ta_o365_tenants/handoff_72f988bf_86f1_41af_91ab_2d7cd011db47?output_mode=json";

/// A collector host whose `--api-token-file` holds a Splunk token or a
/// user's `USER:PASSWORD`.
struct Host(ApiHost);

impl Host {
    async fn new(app: &TestApp, soc: &age::x25519::Identity, secret: &str) -> Host {
        Host(ApiHost::new(app, soc, "splunk-o365", secret).await)
    }

    fn set_secret(&self, secret: &str) {
        self.0.set_api_secret(secret);
    }

    async fn collect(&self, app: &TestApp, splunk: &Splunk, extra: &[&str]) -> Output {
        self.0
            .command(app, &splunk.base)
            .args(extra)
            .output()
            .await
            .unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn answered(app: &TestApp, soc: &age::x25519::Identity, secret: &str, cloud: &str) -> Opened {
    let credential = (TENANT, CLIENT, secret);
    answered_with_credential(app, soc, "o365-management", credential, cloud).await
}

fn assert_success(out: &Output) -> String {
    common::api_host::assert_success(out, &[SECRET, ROTATED, TOKEN, PASSWORD])
}

fn fields(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The inputs handoff makes for the template, as stored.
fn wanted_inputs(index: &str, interval: &str) -> Vec<Stanza> {
    CONTENT_TYPES
        .iter()
        .map(|t| {
            (
                format!("{NAME}_{}", t.replace('.', "_")),
                fields(&[
                    ("tenant_name", NAME),
                    ("content_type", t),
                    ("index", index),
                    ("interval", interval),
                ]),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

async fn a_new_tenant_becomes_a_tenant_and_its_inputs_and_a_second_import_sends_no_write(
    backend: Backend,
) {
    let (app, soc) = app_with_soc(backend).await;
    let splunk = Splunk::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    let r = answered(&app, &soc, SECRET, "commercial").await;

    let said = assert_success(
        &host
            .collect(
                &app,
                &splunk,
                &["--splunk-index", "o365", "--splunk-interval", "600"],
            )
            .await,
    );
    assert!(said.contains("summary: 1 imported"), "{said}");
    let mut expected = vec![
        LIST_TENANTS.to_owned(),
        LIST_INPUTS.to_owned(),
        "POST /splunk_ta_o365_tenants?output_mode=json".to_owned(),
    ];
    expected.extend(vec![
        "POST /splunk_ta_o365_mgmt_activity?output_mode=json"
            .to_owned();
        5
    ]);
    assert_eq!(splunk.calls(), expected);
    for r in splunk.received() {
        assert_eq!(r.headers["authorization"], format!("Bearer {TOKEN}"));
    }
    let create = &splunk.received()[2];
    assert_eq!(
        create.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(
        form(&create.body),
        pairs(&[
            ("name", NAME),
            ("endpoint", "Worldwide"),
            ("tenant_id", TENANT),
            ("client_id", CLIENT),
            ("auth_type", "secret_based"),
            ("client_secret", SECRET),
        ])
    );
    let tenants = splunk.tenants();
    assert_eq!(
        tenants,
        vec![(
            NAME.to_owned(),
            fields(&[
                ("endpoint", "Worldwide"),
                ("tenant_id", TENANT),
                ("client_id", CLIENT),
                ("auth_type", "secret_based"),
                ("client_secret", SECRET),
                ("is_conf_migrated", "1"),
            ])
        )]
    );
    assert_eq!(splunk.inputs(), wanted_inputs("o365", "600"));
    assert!(said.contains("Configuration > Tenant"), "{said}");
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());

    // The same credential again: read (the stored secret included), nothing
    // written.
    let again = answered(&app, &soc, SECRET, "commercial").await;
    let said = assert_success(
        &host
            .collect(&app, &splunk, &["--splunk-index", "o365"])
            .await,
    );
    assert!(said.contains("summary: 0 imported, 1 unchanged"), "{said}");
    assert_eq!(
        &splunk.calls()[8..],
        [LIST_TENANTS, READ_SECRET, LIST_INPUTS]
    );
    assert_eq!(splunk.tenants(), tenants);
    assert_eq!(splunk.inputs(), wanted_inputs("o365", "600"));
    let req = app.store.request(&again.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_some());
}

async fn a_rotation_updates_only_the_secret_and_leaves_hand_made_entries(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let splunk = Splunk::start("not-this-one").await;
    splunk.add_user("handoff", PASSWORD);
    let host = Host::new(&app, &soc, &format!("handoff:{PASSWORD}")).await;
    // A Splunk that already collects another tenant, set up by hand, and an
    // input someone made for this tenant's general audit before handoff.
    let fabrikam_pairs = [
        ("endpoint", "Worldwide"),
        ("tenant_id", "11111111-2222-3333-4444-555555555555"),
        ("client_id", "66666666-7777-8888-9999-000000000000"),
        ("auth_type", "secret_based"),
        ("client_secret", "fabrikam-secret-value"),
    ];
    let general_pairs = [
        ("tenant_name", NAME),
        ("content_type", "Audit.General"),
        ("index", "o365_general"),
        ("interval", "3600"),
    ];
    let exchange_pairs = [
        ("tenant_name", "fabrikam"),
        ("content_type", "Audit.Exchange"),
        ("index", "fabrikam"),
        ("interval", "300"),
    ];
    splunk.add_tenant("fabrikam", &fabrikam_pairs);
    splunk.add_input("my_general", &general_pairs);
    splunk.add_input("fabrikam_exchange", &exchange_pairs);
    let fabrikam = fields(&fabrikam_pairs);
    let by_hand_input = fields(&general_pairs);
    let fab_input = fields(&exchange_pairs);

    answered(&app, &soc, SECRET, "gcc-high").await;
    let said = assert_success(&host.collect(&app, &splunk, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    let received = splunk.received();
    assert_eq!(received[0].uri, "/services/auth/login?output_mode=json");
    assert_eq!(
        form(&received[0].body),
        pairs(&[("username", "handoff"), ("password", PASSWORD)])
    );
    for r in &received[1..] {
        assert!(r.headers["authorization"].starts_with("Splunk "), "{r:?}");
    }
    let first = splunk.tenants();
    assert_eq!(first[0], ("fabrikam".to_owned(), fabrikam.clone()));
    assert_eq!(first[1].1["endpoint"], "USGovGCCHigh");
    let inputs = splunk.inputs();
    assert_eq!(inputs[0], ("my_general".to_owned(), by_hand_input.clone()));
    assert_eq!(
        inputs[1],
        ("fabrikam_exchange".to_owned(), fab_input.clone())
    );
    let mut wanted = wanted_inputs("default", "300");
    wanted.retain(|(_, f)| f["content_type"] != "Audit.General");
    assert_eq!(
        &inputs[2..],
        &wanted[..],
        "the hand-made input is not doubled"
    );

    answered(&app, &soc, ROTATED, "gcc-high").await;
    let said = assert_success(&host.collect(&app, &splunk, &[]).await);
    assert!(said.contains("summary: 1 imported"), "{said}");
    assert!(said.contains("is updated: client_secret"), "{said}");
    let calls = splunk.calls();
    let n = calls.len();
    assert_eq!(
        &calls[n - 5..],
        [
            "POST /services/auth/login?output_mode=json",
            LIST_TENANTS,
            READ_SECRET,
            LIST_INPUTS,
            EDIT_TENANT,
        ]
    );
    let edit = splunk.received().last().unwrap().body.clone();
    assert_eq!(
        form(&edit),
        pairs(&[
            ("endpoint", "USGovGCCHigh"),
            ("tenant_id", TENANT),
            ("client_id", CLIENT),
            ("auth_type", "secret_based"),
            ("change_client_secret", "1"),
            ("client_secret", ROTATED),
            ("change_cert_creds", "0"),
            ("cert_private_key", ""),
            ("private_key_password", ""),
            ("change_cas_secret", "0"),
            ("cloudappsecuritytoken", ""),
        ])
    );
    let after = splunk.tenants();
    assert_eq!(after[0], first[0], "the hand-made tenant is untouched");
    let mut expected = first[1].clone();
    expected
        .1
        .insert("client_secret".to_owned(), ROTATED.to_owned());
    // The add-on empties the certificate fields of a secret-based tenant.
    for k in [
        "cert_private_key",
        "cert_thumbprint",
        "private_key_password",
    ] {
        expected.1.insert(k.to_owned(), String::new());
    }
    assert_eq!(after[1], expected);
    assert_eq!(after.len(), 2, "updated, never a duplicate");
    assert_eq!(splunk.inputs(), inputs, "no input is written in a rotation");
}

async fn without_the_right_to_read_secrets_a_second_import_resends_and_changes_nothing(
    backend: Backend,
) {
    let (app, soc) = app_with_soc(backend).await;
    let splunk = Splunk::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    answered(&app, &soc, SECRET, "gcc").await;
    assert_success(&host.collect(&app, &splunk, &[]).await);
    let tenants = splunk.tenants();
    assert_eq!(tenants[0].1["endpoint"], "USGovGCC");
    let inputs = splunk.inputs();

    splunk.deny_secret_reads();
    answered(&app, &soc, SECRET, "gcc").await;
    let said = assert_success(&host.collect(&app, &splunk, &[]).await);
    assert!(said.contains("cannot tell it from this one"), "{said}");
    let calls = splunk.calls();
    assert_eq!(
        &calls[8..],
        [LIST_TENANTS, READ_SECRET, LIST_INPUTS, EDIT_TENANT]
    );
    let edit = form(&splunk.received().last().unwrap().body);
    assert!(edit.contains(&("change_client_secret".to_owned(), "1".to_owned())));
    // The stored tenant is as before, but for the certificate fields the
    // add-on writes empty on every edit of a secret-based tenant.
    let mut expected = tenants.clone();
    for k in [
        "cert_private_key",
        "cert_thumbprint",
        "private_key_password",
    ] {
        expected[0].1.insert(k.to_owned(), String::new());
    }
    assert_eq!(splunk.tenants(), expected);
    assert_eq!(expected[0].1["client_secret"], SECRET);
    assert_eq!(splunk.inputs(), inputs);
}

async fn another_cloud_with_the_same_secret_is_an_edit_that_does_not_send_it(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let splunk = Splunk::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    answered(&app, &soc, SECRET, "commercial").await;
    assert_success(&host.collect(&app, &splunk, &[]).await);
    // The customer said commercial by mistake; the same app, the same
    // secret, handed over again for GCC.
    answered(&app, &soc, SECRET, "gcc").await;
    let said = assert_success(&host.collect(&app, &splunk, &[]).await);
    assert!(said.contains("is updated: endpoint"), "{said}");
    assert_eq!(splunk.calls().last().unwrap(), EDIT_TENANT);
    let edit = splunk.received().last().unwrap().body.clone();
    assert!(!edit.contains("Rt48Q"), "the secret is not sent again");
    assert_eq!(
        form(&edit),
        pairs(&[
            ("endpoint", "USGovGCC"),
            ("tenant_id", TENANT),
            ("client_id", CLIENT),
            ("auth_type", "secret_based"),
            ("change_client_secret", "0"),
            ("client_secret", ""),
            ("change_cert_creds", "0"),
            ("cert_private_key", ""),
            ("private_key_password", ""),
            ("change_cas_secret", "0"),
            ("cloudappsecuritytoken", ""),
        ])
    );
    let tenant = &splunk.tenants()[0].1;
    assert_eq!(tenant["endpoint"], "USGovGCC");
    assert_eq!(tenant["client_secret"], SECRET, "the stored secret is kept");
    assert_eq!(splunk.inputs().len(), 5, "no input is added twice");
}

/// A refused change: nothing acknowledged, the lease released with
/// splunkd's words in the PM's trail.
async fn refused(app: &TestApp, host: &Host, splunk: &Splunk, r: &Opened, words: &[&str]) {
    let out = host.collect(app, splunk, &[]).await;
    common::api_host::assert_refused(app, &out, &r.id, words, &[SECRET, TOKEN]).await;
}

async fn refusals_leave_the_copy_in_the_inbox_in_splunks_words(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let splunk = Splunk::start(TOKEN).await;
    let host = Host::new(&app, &soc, "an-expired-token").await;
    let r = answered(&app, &soc, SECRET, "commercial").await;

    refused(
        &app,
        &host,
        &splunk,
        &r,
        &[
            "/splunk_ta_o365_tenants was refused: 401 Unauthorized",
            "call not properly authenticated",
        ],
    )
    .await;
    assert_eq!(splunk.calls(), [LIST_TENANTS]);

    host.set_secret(TOKEN);
    splunk.refuse_secret(SECRET);
    refused(
        &app,
        &host,
        &splunk,
        &r,
        &[
            "POST",
            "/splunk_ta_o365_tenants was refused: 400 Bad Request",
            "AADSTS7000215: Invalid client secret provided.",
        ],
    )
    .await;
    assert!(splunk.tenants().is_empty(), "nothing saved");
    assert!(splunk.inputs().is_empty(), "no input without its tenant");

    splunk.uninstall();
    refused(
        &app,
        &host,
        &splunk,
        &r,
        &[
            "404 Not Found",
            "is the Splunk Add-on for Microsoft Office 365, app splunk_ta_o365, installed",
        ],
    )
    .await;

    let before = splunk.calls().len();
    let dod = answered(&app, &soc, SECRET, "dod").await;
    let out = host.collect(&app, &splunk, &[]).await;
    assert!(!out.status.success());
    let said = text(&out.stdout);
    assert!(
        said.contains("dod tenant, and the Splunk Add-on for Microsoft Office 365 cannot collect from that cloud"),
        "{said}"
    );
    let req = app.store.request(&dod.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
    // The first credential is tried again too, and refused at its first
    // read; the DoD one never reaches splunkd.
    assert!(
        splunk.calls()[before..].iter().all(|c| c == LIST_TENANTS),
        "{:?}",
        &splunk.calls()[before..]
    );
}

async fn a_dry_run_reads_but_sends_nothing_and_masks(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let splunk = Splunk::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    let r = answered(&app, &soc, SECRET, "commercial").await;

    let said = assert_success(&host.collect(&app, &splunk, &["--dry-run"]).await);
    assert_eq!(splunk.calls(), [LIST_TENANTS, LIST_INPUTS]);
    let post = format!(
        "POST {}/servicesNS/nobody/splunk_ta_o365/splunk_ta_o365_tenants?output_mode=json\nAuthorization: Bearer ********\nContent-Type: application/x-www-form-urlencoded\n\nname={NAME}&endpoint=Worldwide&tenant_id={TENANT}&client_id={CLIENT}&auth_type=secret_based&client_secret={}\n",
        splunk.base,
        masked_secret(SECRET)
    );
    assert!(said.contains(&post), "{post}\nin\n{said}");
    let input = format!(
        "name={NAME}_DLP_All&tenant_name={NAME}&content_type=DLP.All&index=default&interval=300\n"
    );
    assert!(said.contains(&input), "{input}\nin\n{said}");
    assert!(said.contains("nothing written or sent"), "{said}");
    assert!(splunk.tenants().is_empty());
    assert!(splunk.inputs().is_empty());
    let req = app.store.request(&r.id).await.unwrap().unwrap();
    assert!(req.imported_at.is_none());
}

/// `--recheck` reads the secret back from the add-on's tenant
/// (`--cred--=1`) and asks Entra for a token with it; a user who may not
/// read stored passwords gets a sentence naming the capability, and nothing
/// is reported.
async fn a_recheck_reads_the_secret_back_from_the_add_on(backend: Backend) {
    let (app, soc) = app_with_soc(backend).await;
    let splunk = Splunk::start(TOKEN).await;
    let host = Host::new(&app, &soc, TOKEN).await;
    let entra = standin::StandIn::start().await;
    entra.register(standin::App::new(TENANT, CLIENT, SECRET).grant(
        "https://manage-gcc.office.com",
        &["ActivityFeed.Read", "ActivityFeed.ReadDlp"],
    ));
    let r = answered(&app, &soc, SECRET, "gcc").await;
    assert_success(&host.collect(&app, &splunk, &[]).await);
    let base = entra.base.to_string();
    let recheck = [
        "--recheck",
        "1h",
        "--login-host",
        &base,
        "--manage-host",
        &base,
    ];
    let before = splunk.calls().len();
    let said = assert_success(&host.collect(&app, &splunk, &recheck).await);
    assert!(said.contains(": works"), "{said}");
    assert_eq!(&splunk.calls()[before..], [LIST_TENANTS, READ_SECRET]);
    let token = entra.requests();
    assert_eq!(token.len(), 1);
    assert_eq!(token[0].form["client_secret"], SECRET);
    assert_eq!(
        token[0].form["scope"],
        "https://manage-gcc.office.com/.default"
    );

    splunk.deny_secret_reads();
    app.clock.advance(7200);
    let said = assert_success(&host.collect(&app, &splunk, &recheck).await);
    assert!(said.contains("NOT RE-CHECKED"), "{said}");
    assert!(said.contains("list_storage_passwords"), "{said}");
    assert_eq!(entra.requests().len(), 1);
    let entry = app
        .store
        .credential_entries()
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.request_id == r.id)
        .unwrap();
    assert_eq!(entry.verify_ok, Some(true));
}

with_each_backend!(
    a_new_tenant_becomes_a_tenant_and_its_inputs_and_a_second_import_sends_no_write,
    a_rotation_updates_only_the_secret_and_leaves_hand_made_entries,
    without_the_right_to_read_secrets_a_second_import_resends_and_changes_nothing,
    another_cloud_with_the_same_secret_is_an_edit_that_does_not_send_it,
    refusals_leave_the_copy_in_the_inbox_in_splunks_words,
    a_dry_run_reads_but_sends_nothing_and_masks,
    a_recheck_reads_the_secret_back_from_the_add_on,
);
