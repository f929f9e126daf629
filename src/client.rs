//! A client of the HTTP API v1, for `handoff send`, `get`, `collect` and the benchmark.

use anyhow::{Context, anyhow};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;

use crate::wire::{
    CreateSecret, CreateTransfer, Created, CredentialFacts, ErrorBody, ImportedCredentials, Inbox,
    LeaseRef, Leased, Meta, RecheckOutcome, RecheckRecorded, Revealed, TransferClaimed,
    TransferCompleted, TransferCreated, TransferMeta, UploadState, VerifyOutcome,
};

/// JSON answers are read up to this many bytes: the largest the server
/// sends (a claim or a lease holding a transfer's manifest: at most 256 KiB
/// of age file, in base64, and 1,000 files' shapes) is well under it. A
/// server that sends more is refused rather than trusted with this
/// process's memory (a link names its server, which may be anyone's).
const JSON_MAX: usize = 4 * 1024 * 1024;

/// Error answers are read up to this many bytes.
const ERROR_MAX: usize = 64 * 1024;

/// The body of `res`, refused when it is over `limit` bytes (by its
/// `Content-Length`, or as it arrives).
async fn body_at_most(mut res: reqwest::Response, limit: usize) -> anyhow::Result<Vec<u8>> {
    let over =
        || anyhow!("the server's answer is over {limit} bytes, more than it can be; refusing it");
    if res.content_length().is_some_and(|n| n > limit as u64) {
        return Err(over());
    }
    let mut out = Vec::new();
    while let Some(chunk) = res.chunk().await.context("the server's answer broke off")? {
        if out.len() + chunk.len() > limit {
            return Err(over());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The JSON body of `res` as `T`, at most [`JSON_MAX`] bytes.
async fn json<T: DeserializeOwned>(res: reqwest::Response) -> anyhow::Result<T> {
    let body = body_at_most(res, JSON_MAX).await?;
    serde_json::from_slice(&body).context("the server's answer is not the JSON this client expects")
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// An API answer other than success: the status and the server's own words.
#[derive(Debug, thiserror::Error)]
#[error("{message} ({status}, {code})")]
pub(crate) struct ApiFailure {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
}

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Client> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("handoff/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        })
    }

    pub async fn create(
        &self,
        ciphertext: &[u8],
        expires_in: i64,
        passphrase: bool,
        template: &str,
    ) -> anyhow::Result<Created> {
        let body = CreateSecret {
            ciphertext: STANDARD.encode(ciphertext),
            expires_in,
            passphrase,
            template: template.to_owned(),
        };
        let res = self
            .send(
                self.http
                    .post(format!("{}/api/v1/secrets", self.base))
                    .json(&body),
            )
            .await?;
        json(res).await
    }

    pub(crate) async fn meta(&self, id: &str) -> anyhow::Result<Meta> {
        let res = self
            .send(self.http.get(format!("{}/api/v1/secrets/{id}", self.base)))
            .await?;
        json(res).await
    }

    pub async fn reveal(&self, id: &str) -> anyhow::Result<Vec<u8>> {
        let res = self
            .send(
                self.http
                    .post(format!("{}/api/v1/secrets/{id}/reveal", self.base)),
            )
            .await?;
        let revealed: Revealed = json(res).await?;
        STANDARD
            .decode(revealed.ciphertext)
            .context("the server sent damaged base64")
    }

    /// The same client, sending `token` as a bearer token (the inbox API).
    pub(crate) fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.to_owned());
        self
    }

    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    pub(crate) async fn inbox(&self) -> anyhow::Result<Inbox> {
        let req = self.authed(self.http.get(format!("{}/api/v1/inbox", self.base)));
        json(self.send(req).await?).await
    }

    /// The imported credentials current in the register that nobody checked
    /// for `unchecked_for` (by the server's clock).
    pub(crate) async fn imported_credentials(
        &self,
        unchecked_for: std::time::Duration,
    ) -> anyhow::Result<ImportedCredentials> {
        let req = self.authed(self.http.get(format!(
            "{}/api/v1/inbox/credentials?unchecked_for={}",
            self.base,
            unchecked_for.as_secs()
        )));
        json(self.send(req).await?).await
    }

    /// Reports a re-check of request `id`'s imported credential.
    pub(crate) async fn recheck(
        &self,
        id: &str,
        outcome: &RecheckOutcome,
    ) -> anyhow::Result<RecheckRecorded> {
        let req = self.authed(
            self.http
                .post(format!("{}/api/v1/inbox/{id}/recheck", self.base))
                .json(outcome),
        );
        json(self.send(req).await?).await
    }

    pub(crate) async fn lease(&self, id: &str) -> anyhow::Result<Leased> {
        let req = self.authed(
            self.http
                .post(format!("{}/api/v1/inbox/{id}/lease", self.base)),
        );
        json(self.send(req).await?).await
    }

    /// Acknowledges an import: the copy is deleted, the request marked
    /// imported into `target`, and `credential`'s facts go to the register.
    pub(crate) async fn ack(
        &self,
        id: &str,
        lease_id: &str,
        target: &str,
        credential: Option<&CredentialFacts>,
        keep_copy: bool,
    ) -> anyhow::Result<()> {
        let body = LeaseRef {
            lease_id: lease_id.to_owned(),
            target: Some(target.to_owned()),
            reason: None,
            credential: credential.cloned(),
            keep_copy,
        };
        self.end_lease(id, "ack", &body).await
    }

    /// Releases a lease with `reason` (at most 500 characters are sent),
    /// for the PM's trail.
    pub(crate) async fn release(
        &self,
        id: &str,
        lease_id: &str,
        reason: &str,
    ) -> anyhow::Result<()> {
        let body = LeaseRef {
            lease_id: lease_id.to_owned(),
            target: None,
            reason: Some(reason.chars().take(500).collect()),
            credential: None,
            keep_copy: false,
        };
        self.end_lease(id, "release", &body).await
    }

    async fn end_lease(&self, id: &str, what: &str, body: &LeaseRef) -> anyhow::Result<()> {
        let req = self.authed(
            self.http
                .post(format!("{}/api/v1/inbox/{id}/{what}", self.base))
                .json(body),
        );
        self.send(req).await?;
        Ok(())
    }

    pub(crate) async fn report(&self, id: &str, outcome: &VerifyOutcome) -> anyhow::Result<()> {
        let req = self.authed(
            self.http
                .post(format!("{}/api/v1/inbox/{id}/result", self.base))
                .json(outcome),
        );
        self.send(req).await?;
        Ok(())
    }

    /// `POST /api/v1/transfers`: declares a file transfer.
    pub(crate) async fn create_transfer(
        &self,
        body: &CreateTransfer,
    ) -> anyhow::Result<TransferCreated> {
        let req = self
            .http
            .post(format!("{}/api/v1/transfers", self.base))
            .json(body);
        json(self.send(req).await?).await
    }

    fn piece_url(&self, id: &str, file: usize, piece: u64) -> String {
        format!(
            "{}/api/v1/transfers/{id}/files/{file}/pieces/{piece}",
            self.base
        )
    }

    /// Uploads one piece (its age file) with the upload token. A 409
    /// `piece_exists` counts as done: only the holder of the upload token
    /// stores pieces, so the server already holds this sender's own whole
    /// copy of the piece (checked as one, with this piece's plaintext
    /// length), typically sent by a run that was killed after the server had
    /// received it but before it could say so; re-encrypting the same
    /// plaintext gives other bytes, which the server rightly refuses.
    pub(crate) async fn put_piece(
        &self,
        id: &str,
        token: &str,
        file: usize,
        piece: u64,
        bytes: Vec<u8>,
    ) -> anyhow::Result<()> {
        let req = self
            .http
            .put(self.piece_url(id, file, piece))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        match self.send(req).await {
            Ok(_) => Ok(()),
            Err(e)
                if e.downcast_ref::<ApiFailure>()
                    .is_some_and(|f| f.code == "piece_exists") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// What the server holds of an upload.
    pub(crate) async fn upload_state(&self, id: &str, token: &str) -> anyhow::Result<UploadState> {
        let req = self
            .http
            .get(format!("{}/api/v1/transfers/{id}/upload", self.base))
            .bearer_auth(token);
        json(self.send(req).await?).await
    }

    /// Completes an upload.
    pub(crate) async fn complete_transfer(
        &self,
        id: &str,
        token: &str,
    ) -> anyhow::Result<TransferCompleted> {
        let req = self
            .http
            .post(format!("{}/api/v1/transfers/{id}/complete", self.base))
            .bearer_auth(token);
        json(self.send(req).await?).await
    }

    /// A transfer's metadata; never consumes.
    pub(crate) async fn transfer_meta(&self, id: &str) -> anyhow::Result<TransferMeta> {
        let req = self
            .http
            .get(format!("{}/api/v1/transfers/{id}", self.base));
        json(self.send(req).await?).await
    }

    /// Claims a transfer (once, ever).
    pub(crate) async fn claim_transfer(&self, id: &str) -> anyhow::Result<TransferClaimed> {
        let req = self
            .http
            .post(format!("{}/api/v1/transfers/{id}/claim", self.base));
        json(self.send(req).await?).await
    }

    /// One piece's age file, with the download token.
    pub(crate) async fn get_piece(
        &self,
        id: &str,
        token: &str,
        file: usize,
        piece: u64,
    ) -> anyhow::Result<Vec<u8>> {
        let req = self
            .http
            .get(self.piece_url(id, file, piece))
            .bearer_auth(token);
        body_at_most(self.send(req).await?, crate::transfer::PIECE_CIPHERTEXT_MAX).await
    }

    /// Tells the server every piece arrived: it deletes them.
    pub(crate) async fn finish_transfer(&self, id: &str, token: &str) -> anyhow::Result<()> {
        let req = self
            .http
            .post(format!("{}/api/v1/transfers/{id}/finish", self.base))
            .bearer_auth(token);
        self.send(req).await?;
        Ok(())
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        let res = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status().as_u16();
        let body = String::from_utf8_lossy(&body_at_most(res, ERROR_MAX).await.unwrap_or_default())
            .into_owned();
        Err(match serde_json::from_str::<ErrorBody>(&body) {
            Ok(e) => ApiFailure {
                status,
                code: e.error,
                message: e.message,
            }
            .into(),
            Err(_) => anyhow!(
                "the server answered {status}: {}",
                body.chars().take(200).collect::<String>()
            ),
        })
    }
}
