// The PM's retrieval page (/p/{id}#AGE-SECRET-KEY-1...). Loading it consumes
// nothing. The button first checks the key in the fragment, then takes the
// PM's copy from the server (once, ever) and decrypts it here.

import { Decrypter, identityToRecipient } from "/assets/age.js";
import {
  $, forgetKey, fromBase64, linkKey, onSubmit, postJson, requireSecureContext, showError,
} from "/assets/common.js";
import { showRevealed } from "/assets/payload-view.js";

const section = $("reveal");
const form = $("reveal-form");
const button = $("reveal-button");
const errorBox = $("reveal-error");
const id = section.dataset.id;

const key = linkKey();
const secure = requireSecureContext(button);

if (!key || key.locked) {
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
  showRevealed(section, payload);
  noteCredential(payload);
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

