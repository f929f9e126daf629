//! handoff: a customer hands a SOC the credentials it needs to collect their
//! logs, encrypted end to end, read once.
//!
//! A tour, from the inside out. Each layer is a folder or a file of its own,
//! and only the layers below it know nothing of the ones above:
//!
//! - Domain (no axum, no SQL, no clap): [`id`] makes and parses random ids
//!   and tokens; [`expiry`] bounds lifetimes; [`upload`] checks that an
//!   upload is a well-formed age file; [`template`] lists what a payload can
//!   hold; [`credential`] catches the usual mistakes in Entra credentials;
//!   [`request`] holds a request's rules (its state from its step times, and
//!   who may still withdraw or cancel it); [`secret`] tells a link secret's
//!   state from its receipt; [`payload`] and [`link`] are the formats a
//!   client encrypts and shares; [`clock`] is where "now" comes from;
//!   [`cloud`] names Microsoft's clouds and holds their one host table;
//!   [`address`] says which hosts are this machine and where plain `http://`
//!   may go; [`integration`] holds the integration templates (their types,
//!   the checks a template file must pass, the `az` script and the guide);
//!   [`staff`] checks staff names and hashes their passwords; [`oidc`]
//!   signs staff in through the SOC's identity provider; [`token`]
//!   makes and checks the collector's API tokens; [`audit`] is the
//!   hash-chained trail of every state change; [`label`] keeps deceptive
//!   characters out of the labels people read; [`brand`] says who runs the
//!   instance (name, logo, contact, accent); [`register`] is the
//!   credential register (each customer's current credential's client ID
//!   and expiry, and where it stands); [`rotation`] asks for a new secret
//!   before one expires; [`transfer`] holds the rules of file transfers
//!   (pieces of 4 MiB, each an age file; the bounds on what a sender
//!   declares; the encrypted manifest and the names a reader accepts).
//! - [`store`] keeps everything in SQLite or PostgreSQL, behind one type;
//!   consuming a secret (or claiming a file transfer) is one atomic, durable
//!   statement, and each
//!   conditional UPDATE is a rule of [`request`] in SQL (a test holds the
//!   two together, another the two migration folders).
//! - [`wire`] holds every JSON body of the API (and the webhooks' body), one
//!   type each, which the server and the client both use; `openapi.json`
//!   documents them and a test holds the two together.
//! - [`http`] is the axum layer: the JSON API (file transfers' in
//!   `http/transfers.rs`, their pieces raw octet streams), the pages, the embedded browser
//!   assets, security headers, rate limits, and the accept loop's limits on
//!   connections; one error type per boundary ([`http::error`]). [`config`]
//!   is `serve`'s configuration, [`purge`] the task that deletes what has
//!   expired, [`webhook`] the task that notifies receivers of what
//!   happened to requests, and [`email`] the task that tells staff and
//!   customers' admins by e-mail (SMTP). [`server`] is the one way all of it starts and
//!   stops, for `serve` and the tests alike: the database, the tasks, then
//!   the HTTP layer.
//! - [`verify`] checks a decrypted credential against Entra ID: a token per
//!   API, its roles and tenant, and the Management API subscriptions.
//! - [`cli`] is the `handoff` binary's commands, one file per command
//!   family (`cli/files.rs`: `send FILE...` and `get LINK -o DIR`, with
//!   progress bars and resume); [`client`] talks to a server's API for `send`, `get`, `collect`
//!   and the benchmark; [`collector`] is `handoff collect`'s loop (lease,
//!   decrypt, write, verify, acknowledge, report) and `recheck` its
//!   `--recheck` pass (read each imported credential back from the target,
//!   one token request, report failures and recoveries), and [`collect`] its
//!   targets, which write a decrypted credential into a collector's
//!   configuration (Wazuh, Filebeat, env and JSON files) or send it to a SOC
//!   platform's or a collector's API (`http`, `wazuh-api`, `qradar`,
//!   `elastic-agent`, `splunk-o365`, `cribl`, through the shared
//!   `collect/api.rs`; `wazuh-api` reads the configuration there before it
//!   merges, with the local Wazuh target's merge, `qradar` discovers the
//!   protocol and the existing log source before it creates or updates one,
//!   `elastic-agent` reads the Fleet package and the existing integration
//!   policy, `splunk-o365` reads the Splunk add-on's tenants and inputs
//!   before it adds or edits its own, and `cribl` reads a Worker Group's
//!   stored secrets and Sources before it writes, commits and deploys); each
//!   target is one file in `collect/` and one line of its `targets!`
//!   registry.
//!
//! Items are `pub(crate)` unless the binary or the tests need them, so the
//! compiler reports what nothing uses.

// No unwrap() outside tests.
#![warn(unreachable_pub)]
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub(crate) mod address;
pub mod audit;
pub mod brand;
pub mod cli;
pub mod client;
pub mod clock;
pub mod cloud;
pub mod collect;
pub(crate) mod collector;
pub mod config;
pub(crate) mod credential;
pub mod email;
pub mod expiry;
pub mod http;
pub mod id;
pub mod integration;
pub(crate) mod label;
pub mod link;
pub mod oidc;
pub mod payload;
pub mod purge;
pub(crate) mod recheck;
pub mod register;
pub mod request;
/// Rotation requests made before a credential's secret expires.
pub mod rotation;
pub(crate) mod secret;
pub mod server;
pub mod staff;
pub mod store;
pub(crate) mod template;
pub mod token;
pub mod transfer;
pub(crate) mod upload;
pub mod verify;
pub mod webhook;
pub mod wire;
