//! A client of the HTTP API v1, for `handoff send`, `get`, `collect` and the benchmark.

use anyhow::{Context, anyhow};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::wire::{
    CreateSecret, CreateTransfer, Created, CredentialFacts, ErrorBody, ImportedCredentials, Inbox,
    LeaseRef, Leased, Meta, RecheckOutcome, RecheckRecorded, Revealed, TransferClaimed,
    TransferCompleted, TransferCreated, TransferMeta, UploadState, VerifyOutcome,
};

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
        Ok(res.json().await?)
    }

    pub(crate) async fn meta(&self, id: &str) -> anyhow::Result<Meta> {
        let res = self
            .send(self.http.get(format!("{}/api/v1/secrets/{id}", self.base)))
            .await?;
        Ok(res.json().await?)
    }

    pub async fn reveal(&self, id: &str) -> anyhow::Result<Vec<u8>> {
        let res = self
            .send(
                self.http
                    .post(format!("{}/api/v1/secrets/{id}/reveal", self.base)),
            )
            .await?;
        let revealed: Revealed = res.json().await?;
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
        Ok(self.send(req).await?.json().await?)
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
        Ok(self.send(req).await?.json().await?)
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
        Ok(self.send(req).await?.json().await?)
    }

    pub(crate) async fn lease(&self, id: &str) -> anyhow::Result<Leased> {
        let req = self.authed(
            self.http
                .post(format!("{}/api/v1/inbox/{id}/lease", self.base)),
        );
        Ok(self.send(req).await?.json().await?)
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
        Ok(self.send(req).await?.json().await?)
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
        Ok(self.send(req).await?.json().await?)
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
        Ok(self.send(req).await?.json().await?)
    }

    /// A transfer's metadata; never consumes.
    pub(crate) async fn transfer_meta(&self, id: &str) -> anyhow::Result<TransferMeta> {
        let req = self
            .http
            .get(format!("{}/api/v1/transfers/{id}", self.base));
        Ok(self.send(req).await?.json().await?)
    }

    /// Claims a transfer (once, ever).
    pub(crate) async fn claim_transfer(&self, id: &str) -> anyhow::Result<TransferClaimed> {
        let req = self
            .http
            .post(format!("{}/api/v1/transfers/{id}/claim", self.base));
        Ok(self.send(req).await?.json().await?)
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
        Ok(self.send(req).await?.bytes().await?.to_vec())
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
        let body = res.text().await.unwrap_or_default();
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
