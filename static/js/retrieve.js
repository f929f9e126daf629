// The PM's retrieval page (/p/{id}#AGE-SECRET-KEY-1...). Loading it consumes
// nothing. The button first checks the key in the fragment, then takes the
// PM's copy from the server (once, ever) and decrypts it here.
//
// A files request's answer names a transfer and holds its key; the reveal
// hands out the PM's grant to read it (the manifest, a download token, the
// grace time). The page then lists the files and saves them (files-save.js).
// Until every file is saved or the grace ends, the grant and the key stay in
// sessionStorage, so that this tab can finish after a reload.

import { Decrypter, identityToRecipient } from "/assets/age.js";
import {
  $, forgetKey, fromBase64, linkKey, onSubmit, postJson, requireSecureContext, showError,
} from "/assets/common.js";
import { ManifestError, showFiles } from "/assets/files-save.js";
import { showRevealed } from "/assets/payload-view.js";

const section = $("reveal");
const form = $("reveal-form");
const button = $("reveal-button");
const errorBox = $("reveal-error");
const id = section.dataset.id;

const FILES_KEY = `handoff.retrieval.files.${id}`;

const kept = keptFiles();
const key = kept ? null : linkKey();
const secure = requireSecureContext(button);

if (kept) {
  forgetKey();
  showAnswerFiles(kept).catch((e) => showError(errorBox, `Something went wrong in this browser: ${e?.message ?? e}`));
} else if (!key || key.locked) {
  $("missing-key").hidden = false;
  form.hidden = true;
}

onSubmit(form, button, errorBox, () => key && secure, retrieve);

async function retrieve() {
  try {
    await identityToRecipient(key.identity); // a damaged key fails here, before anything is consumed
  } catch {
    showError(errorBox, "The key in this link is damaged. Nothing was retrieved; use the link exactly as it was shown.");
    return;
  }
  button.textContent = "Retrieving…";
  const res = await postJson(`/api/v1/retrievals/${encodeURIComponent(id)}/reveal`);
  if (res.status === 404) {
    form.hidden = true;
    forgetKey();
    section.querySelector(".lead").hidden = true;
    $("reveal-gone").hidden = false;
    return;
  }
  if (!res.ok) {
    showError(errorBox, res.data.message);
    return;
  }
  let payload;
  try {
    const d = new Decrypter();
    d.addIdentity(key.identity);
    payload = JSON.parse(await d.decrypt(fromBase64(res.data.ciphertext), "text"));
  } catch {
    forgetKey();
    form.hidden = true;
    showError(errorBox, "The answer was received but this link's key cannot decrypt it; it is now deleted from the server. The collector's sealed copy is unaffected.");
    return;
  }
  forgetKey();
  // The server's record of the request decides (the page has the files
  // section), or the grant it handed out.
  if (res.data.transfer || $("files")) {
    await revealedFiles(payload, res.data.transfer);
    return;
  }
  showRevealed(section, payload);
  noteCredential(payload);
}

// ---------------------------------------------------------------------------
// A files answer

/** The files answer this tab revealed and has not finished saving, or null. */
function keptFiles() {
  try {
    const kept = JSON.parse(sessionStorage.getItem(FILES_KEY) ?? "null");
    if (!kept?.claimed || !kept.identity) return null;
    if (new Date(kept.claimed.grace_until).getTime() <= Date.now()) {
      sessionStorage.removeItem(FILES_KEY);
      return null;
    }
    return kept;
  } catch {
    return null;
  }
}

/** Checks that the payload and the server's grant name the same transfer, then shows its files. */
async function revealedFiles(payload, grant) {
  form.hidden = true;
  const fields = payload?.fields ?? {};
  if (!grant || !$("files") || typeof fields.key !== "string" || fields.transfer !== grant.id) {
    showError(errorBox, grant
      ? "The answer names other files than the server handed out, so they are not shown. Ask the customer to send them again through a new request."
      : "The answer names files, but the server handed out none with it. Ask the customer to send them again through a new request.");
    return;
  }
  const kept = { identity: fields.key, claimed: grant, message: typeof payload.note === "string" ? payload.note : "" };
  sessionStorage.setItem(FILES_KEY, JSON.stringify(kept));
  await showAnswerFiles(kept);
}

async function showAnswerFiles({ identity, claimed, message }) {
  const forget = () => sessionStorage.removeItem(FILES_KEY);
  section.hidden = true;
  try {
    await showFiles({ transferId: claimed.id, identity, claimed, message, forget });
  } catch (e) {
    section.hidden = false;
    if (!(e instanceof ManifestError)) throw e;
    forget();
    form.hidden = true;
    showError(errorBox, e.old
      ? "These files were sent with an earlier version of handoff, which this page no longer reads. Ask the customer to send them again through a new request."
      : "The answer was received but the list of its files could not be decrypted with the answer's key. Ask the customer to send them again through a new request; the collector's sealed copy is unaffected.");
  }
}

// The SOC's credential register: the client ID and the day the secret
// expires go back to the server (never the secret, never the tenant), so the
// dashboard can say when this customer needs a new secret. Best effort: the
// PM has the answer whatever happens here.
function noteCredential(payload) {
  const fields = payload?.fields ?? {};
  const clientId = String(fields.client_id ?? "").trim();
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(clientId)) return;
  const expires = String(fields.secret_expires_on ?? "").trim();
  const facts = { client_id: clientId };
  if (/^\d{4}-\d{2}-\d{2}$/.test(expires)) facts.secret_expires_on = expires;
  postJson(`/api/v1/retrievals/${encodeURIComponent(id)}/credential`, facts);
}

