//! The wire types and their documentation say the same: every type in
//! `handoff::wire` against its `components.schemas` entry in `openapi.json`
//! (field names both ways, which are required, the JSON type and enum of
//! each value, unknown fields), and the webhook body against the README's
//! example. Renaming, adding or dropping a field on either side fails here.

use std::collections::BTreeSet;

use handoff::wire::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

fn openapi() -> Value {
    serde_json::from_str(handoff::http::api::OPENAPI).expect("openapi.json is JSON")
}

/// Which way a body travels decides what its schema must promise.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    /// The server reads it: the schema's `required` is exactly what the
    /// server cannot do without.
    ToServer,
    /// The server writes it, every field every time: all are required.
    FromServer,
}

fn keys(map: &Map<String, Value>) -> BTreeSet<String> {
    map.keys().cloned().collect()
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `schema` after following `$ref`s.
fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> &'a Value {
    while let Some(r) = schema["$ref"].as_str() {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("a local $ref: {r}"));
        schema = &doc["components"]["schemas"][name];
        assert!(!schema.is_null(), "{r} exists");
    }
    schema
}

/// Whether `value` has a JSON type (and enum member) `schema` allows.
fn allows(doc: &Value, schema: &Value, value: &Value) -> bool {
    let schema = resolve(doc, schema);
    if let Some(options) = schema["oneOf"].as_array() {
        return options.iter().any(|s| allows(doc, s, value));
    }
    if let Some(members) = schema["enum"].as_array()
        && !members.contains(value)
    {
        return false;
    }
    let types = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return true,
    };
    types.iter().any(|t| match (*t, value) {
        ("string", Value::String(_))
        | ("boolean", Value::Bool(_))
        | ("null", Value::Null)
        | ("object", Value::Object(_))
        | ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("array", Value::Array(items)) => items.iter().all(|i| allows(doc, &schema["items"], i)),
        _ => false,
    })
}

/// Holds the wire type `T` to the schema `name`, with samples that between
/// them fill every optional field and leave every one out.
fn check<T: Serialize + DeserializeOwned>(doc: &Value, name: &str, way: Way, samples: &[T]) {
    let schema = &doc["components"]["schemas"][name];
    let documented = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{name} is an object schema in openapi.json"));
    let required = names(&schema["required"]);
    assert!(
        required.is_subset(&keys(documented)),
        "{name}: every required property is documented"
    );
    for sample in samples {
        let sent = serde_json::to_value(sample).unwrap();
        let sent = sent.as_object().unwrap();
        assert_eq!(
            keys(sent),
            keys(documented),
            "{name}: the fields sent (left) and documented (right)"
        );
        for (field, value) in sent {
            assert!(
                allows(doc, &documented[field], value),
                "{name}.{field}: {value} is not what openapi.json documents"
            );
        }
        serde_json::from_value::<T>(Value::Object(sent.clone()))
            .unwrap_or_else(|e| panic!("{name}: what one side sends the other reads: {e}"));

        let only_required: Map<String, Value> = sent
            .iter()
            .filter(|(k, _)| required.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        serde_json::from_value::<T>(Value::Object(only_required))
            .unwrap_or_else(|e| panic!("{name}: the required fields alone are enough: {e}"));
        match way {
            Way::FromServer => assert_eq!(
                required,
                keys(sent),
                "{name}: the server sends every field, so all are required"
            ),
            Way::ToServer => {
                for field in &required {
                    let mut without = sent.clone();
                    without.remove(field);
                    assert!(
                        serde_json::from_value::<T>(Value::Object(without)).is_err(),
                        "{name}: {field} is documented as required, but the server does without it"
                    );
                }
            }
        }

        let mut extra = sent.clone();
        extra.insert("undocumented".into(), json!(1));
        let refused = serde_json::from_value::<T>(Value::Object(extra)).is_err();
        let closed = schema["additionalProperties"] == json!(false);
        assert_eq!(
            refused, closed,
            "{name}: refuses unknown fields exactly when openapi.json says additionalProperties: false"
        );
    }
}

const ID: &str = "q8bV0m3yJ1s9dJcXk2Zl4A";
const AT: &str = "2026-11-22T10:00:00Z";
const AGE: &str = "YWdlLWVuY3J5cHRpb24ub3JnL3YxCg==";
const GUID: &str = "0b1b9f5a-2f4e-4a8e-9a51-1d6e2f7a3c11";

/// A files request's transfer as a reader gets it.
fn grant() -> TransferGrant {
    TransferGrant {
        id: s(ID),
        manifest: s(AGE),
        download_token: s(ID),
        files: vec![TransferFile {
            pieces: 1,
            size: 300,
        }],
        grace_until: s(AT),
    }
}

fn s(text: &str) -> String {
    text.to_owned()
}

/// Every object schema in `openapi.json` has its wire type, and the two agree.
#[test]
fn wire_types_match_openapi() {
    let doc = openapi();
    let mut checked = BTreeSet::new();
    let mut run = |name: &str| {
        checked.insert(name.to_owned());
        name.to_owned()
    };

    check(
        &doc,
        &run("CreateSecret"),
        Way::ToServer,
        &[CreateSecret {
            ciphertext: s(AGE),
            expires_in: 3600,
            passphrase: true,
            template: s("entra-app"),
        }],
    );
    check(
        &doc,
        &run("Created"),
        Way::FromServer,
        &[Created {
            id: s(ID),
            url: format!("https://h.example/s/{ID}"),
            expires_at: s(AT),
            status_url: format!("https://h.example/status/{ID}"),
        }],
    );
    check(
        &doc,
        &run("Meta"),
        Way::FromServer,
        &[Meta {
            id: s(ID),
            template: s("text"),
            passphrase: false,
            created_at: s(AT),
            expires_at: s(AT),
        }],
    );
    check(
        &doc,
        &run("Revealed"),
        Way::FromServer,
        &[Revealed { ciphertext: s(AGE) }],
    );
    let status = |at: Option<&str>| Status {
        id: s(ID),
        template: s("text"),
        state: s("read"),
        created_at: s(AT),
        expires_at: s(AT),
        read_at: at.map(s),
        destroyed_at: at.map(s),
    };
    check(
        &doc,
        &run("Status"),
        Way::FromServer,
        &[status(Some(AT)), status(None)],
    );
    check(
        &doc,
        &run("Health"),
        Way::FromServer,
        &[Health {
            status: s("ok"),
            database: s("postgres"),
        }],
    );
    check(
        &doc,
        &run("Error"),
        Way::FromServer,
        &[ErrorBody {
            error: s("not_found"),
            message: s("There is nothing at this address."),
        }],
    );

    let create_request = |reissued_from: Option<&str>| CreateRequest {
        customer: s("Contoso"),
        template: s("o365-management"),
        expires_in: 86_400,
        note: s("For the audit logs."),
        recipient: s("age1qqq"),
        contact_email: reissued_from.map(|_| s("admin@contoso.example")),
        email_link: reissued_from.is_some(),
        reissued_from: reissued_from.map(s),
    };
    check(
        &doc,
        &run("CreateRequest"),
        Way::ToServer,
        &[create_request(Some(ID)), create_request(None)],
    );
    check(
        &doc,
        &run("CreatedRequest"),
        Way::FromServer,
        &[CreatedRequest {
            id: s(ID),
            url: format!("https://h.example/r/{ID}"),
            retrieval_url: format!("https://h.example/p/{ID}"),
            expires_at: s(AT),
        }],
    );
    check(
        &doc,
        &run("RequestMeta"),
        Way::FromServer,
        &[RequestMeta {
            id: s(ID),
            customer: s("Contoso"),
            template: s("o365-management"),
            note: s(""),
            expires_at: s(AT),
            state: s("open"),
            recipient: s("age1qqq"),
            soc_recipients: vec![s("age1sss")],
        }],
    );
    // Only the browser sends it, and it leaves a missing sealed copy out
    // rather than sending null (which the schema does not allow).
    check(
        &doc,
        &run("Answer"),
        Way::ToServer,
        &[
            AnswerBody {
                pm_ciphertext: s(AGE),
                sealed_ciphertext: Some(s(AGE)),
                transfer: None,
            },
            AnswerBody {
                pm_ciphertext: s(AGE),
                sealed_ciphertext: Some(s(AGE)),
                transfer: Some(s(ID)),
            },
        ],
    );
    check(
        &doc,
        &run("Answered"),
        Way::FromServer,
        &[Answered {
            status_url: format!("https://h.example/rs/{ID}"),
        }],
    );
    let request_status = |at: Option<&str>| RequestStatus {
        customer: s("Contoso"),
        template: s("o365-management"),
        state: s("verified"),
        answered_at: at.map(s),
        retrieved_at: at.map(s),
        imported_at: at.map(s),
        verified_at: at.map(s),
        verify_ok: at.map(|_| true),
        withdrawn_at: at.map(s),
        can_withdraw: false,
    };
    check(
        &doc,
        &run("RequestStatus"),
        Way::FromServer,
        &[request_status(Some(AT)), request_status(None)],
    );
    check(
        &doc,
        &run("Retrieved"),
        Way::FromServer,
        &[
            Retrieved {
                ciphertext: s(AGE),
                customer: s("Contoso"),
                template: s("text"),
                transfer: None,
            },
            Retrieved {
                ciphertext: s(AGE),
                customer: s("Contoso"),
                template: s("files"),
                transfer: Some(grant()),
            },
        ],
    );

    let entry = |leased_until: Option<&str>| InboxEntry {
        id: s(ID),
        template: s("o365-management"),
        customer: s("Contoso"),
        answered_at: s(AT),
        leased_until: leased_until.map(s),
    };
    check(
        &doc,
        &run("InboxEntry"),
        Way::FromServer,
        &[entry(Some(AT)), entry(None)],
    );
    check(
        &doc,
        &run("Inbox"),
        Way::FromServer,
        &[Inbox {
            items: vec![entry(Some(AT)), entry(None)],
        }],
    );
    check(
        &doc,
        &run("Leased"),
        Way::FromServer,
        &[
            Leased {
                id: s(ID),
                lease_id: s(ID),
                lease_expires_at: s(AT),
                template: s("o365-management"),
                customer: s("Contoso"),
                ciphertext: s(AGE),
                rotates: None,
                transfer: None,
            },
            Leased {
                id: s(ID),
                lease_id: s(ID),
                lease_expires_at: s(AT),
                template: s("o365-management"),
                customer: s("Contoso"),
                ciphertext: s(AGE),
                rotates: Some(Rotates {
                    request_id: s(ID),
                    client_id: s(GUID),
                }),
                transfer: None,
            },
            Leased {
                id: s(ID),
                lease_id: s(ID),
                lease_expires_at: s(AT),
                template: s("files"),
                customer: s("Contoso"),
                ciphertext: s(AGE),
                rotates: None,
                transfer: Some(grant()),
            },
        ],
    );
    check(
        &doc,
        &run("Rotates"),
        Way::FromServer,
        &[Rotates {
            request_id: s(ID),
            client_id: s(GUID),
        }],
    );
    check(
        &doc,
        &run("LeaseRef"),
        Way::ToServer,
        &[
            LeaseRef {
                lease_id: s(ID),
                target: Some(s("wazuh-office365")),
                reason: None,
                credential: Some(CredentialFacts {
                    client_id: s(GUID),
                    secret_expires_on: Some(s("2027-06-30")),
                }),
                keep_copy: true,
            },
            LeaseRef {
                lease_id: s(ID),
                target: None,
                reason: Some(s(
                    "POST https://soc.example/x was refused: 401 Unauthorized",
                )),
                credential: None,
                keep_copy: false,
            },
        ],
    );
    check(
        &doc,
        &run("CredentialFacts"),
        Way::ToServer,
        &[
            CredentialFacts {
                client_id: s(GUID),
                secret_expires_on: Some(s("2027-06-30")),
            },
            CredentialFacts {
                client_id: s(GUID),
                secret_expires_on: None,
            },
        ],
    );
    check(
        &doc,
        &run("VerifyOutcome"),
        Way::ToServer,
        &[
            VerifyOutcome {
                ok: false,
                step: Some(s("roles")),
                code: Some(s("AADSTS7000215")),
                message: Some(s("The secret is wrong.")),
                roles_found: vec![s("ActivityFeed.Read")],
                roles_required: vec![s("ActivityFeed.Read"), s("ServiceHealth.Read")],
            },
            VerifyOutcome {
                ok: true,
                step: None,
                code: None,
                message: None,
                roles_found: vec![],
                roles_required: vec![],
            },
        ],
    );
    let imported = ImportedCredential {
        request_id: s(ID),
        customer: s("Contoso"),
        template: s("o365-management"),
        client_id: s(GUID),
        imported_to: s("env"),
        last_checked_at: Some(s("2026-11-30T12:00:00Z")),
        failing: true,
    };
    check(
        &doc,
        &run("ImportedCredential"),
        Way::FromServer,
        &[
            imported.clone(),
            ImportedCredential {
                last_checked_at: None,
                failing: false,
                ..imported.clone()
            },
        ],
    );
    check(
        &doc,
        &run("ImportedCredentials"),
        Way::FromServer,
        &[ImportedCredentials {
            items: vec![imported],
        }],
    );
    check(
        &doc,
        &run("RecheckOutcome"),
        Way::ToServer,
        &[
            RecheckOutcome {
                ok: false,
                code: Some(s("AADSTS7000222")),
                cause: Some(s("The client secret has expired.")),
            },
            RecheckOutcome {
                ok: true,
                code: None,
                cause: None,
            },
        ],
    );
    check(
        &doc,
        &run("RecheckRecorded"),
        Way::FromServer,
        &[RecheckRecorded {
            change: s("failing"),
        }],
    );

    check(
        &doc,
        &run("CreateTransfer"),
        Way::ToServer,
        &[
            CreateTransfer {
                manifest: s(AGE),
                files: vec![TransferFile {
                    pieces: 1,
                    size: 300,
                }],
                expires_in: Some(3600),
                request: None,
            },
            CreateTransfer {
                manifest: s(AGE),
                files: vec![TransferFile {
                    pieces: 1,
                    size: 300,
                }],
                expires_in: None,
                request: Some(s(ID)),
            },
        ],
    );
    check(&doc, &run("TransferGrant"), Way::FromServer, &[grant()]);
    check(
        &doc,
        &run("TransferFile"),
        Way::FromServer,
        &[TransferFile {
            pieces: 3,
            size: 9_437_900,
        }],
    );
    check(
        &doc,
        &run("TransferCreated"),
        Way::FromServer,
        &[TransferCreated {
            id: s(ID),
            url: format!("https://h.example/f/{ID}"),
            upload_token: s(ID),
            expires_at: s(AT),
            piece_size: 4_194_304,
        }],
    );
    check(
        &doc,
        &run("UploadState"),
        Way::FromServer,
        &[UploadState {
            complete: false,
            files: vec![UploadedFile {
                pieces: 3,
                present: vec![0, 2],
            }],
        }],
    );
    check(
        &doc,
        &run("UploadedFile"),
        Way::FromServer,
        &[UploadedFile {
            pieces: 1,
            present: vec![],
        }],
    );
    check(
        &doc,
        &run("TransferCompleted"),
        Way::FromServer,
        &[TransferCompleted {
            id: s(ID),
            url: format!("https://h.example/f/{ID}"),
            expires_at: s(AT),
        }],
    );
    check(
        &doc,
        &run("TransferMeta"),
        Way::FromServer,
        &[TransferMeta {
            id: s(ID),
            files: 2,
            size: 12_345,
            created_at: s(AT),
            expires_at: s(AT),
        }],
    );
    check(
        &doc,
        &run("TransferClaimed"),
        Way::FromServer,
        &[TransferClaimed {
            manifest: s(AGE),
            download_token: s(ID),
            files: vec![TransferFile {
                pieces: 1,
                size: 300,
            }],
            grace_until: s(AT),
        }],
    );

    let objects: BTreeSet<String> = doc["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, schema)| schema["type"] == "object")
        .map(|(name, _)| name.clone())
        .collect();
    assert_eq!(
        checked, objects,
        "every object schema in openapi.json is checked against its wire type"
    );
}

/// The README's example webhook body names the fields [`WebhookEvent`] sends.
#[test]
fn webhook_body_matches_the_readme() {
    let readme = include_str!("../README.md");
    let section = &readme[readme.find("\n## Webhooks").expect("a Webhooks section")..];
    let block = section
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section has a JSON example");
    let documented: Value = serde_json::from_str(block).expect("the example is JSON");

    let body = WebhookEvent {
        event: s("request.answered"),
        seq: 42,
        at: s(AT),
        request: WebhookRequest {
            id: Some(s(ID)),
            customer: None,
            template: Some(s("o365-management")),
        },
        dashboard_url: Some(format!("https://h.example/staff/requests/{ID}")),
        text: s("A customer answered the request."),
    };
    let sent = serde_json::to_value(&body).unwrap();
    assert_eq!(
        keys(sent.as_object().unwrap()),
        keys(documented.as_object().unwrap()),
        "the body's fields"
    );
    assert_eq!(
        keys(sent["request"].as_object().unwrap()),
        keys(documented["request"].as_object().unwrap()),
        "the request's fields"
    );
    let read: WebhookEvent = serde_json::from_value(documented).expect("the example reads");
    assert_eq!(read.seq, 42);
}
