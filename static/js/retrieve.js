// The PM's retrieval page (/p/{id}#AGE-SECRET-KEY-1...). Loading it consumes
// nothing. The button first checks the key in the fragment, then takes the
// PM's copy from the server (once, ever) and decrypts it here.

import { Decrypter, identityToRecipient } from "/assets/age.js";
import { $, fromBase64, parseFragment, postJson, requireSecureContext, showError } from "/assets/common.js";
import { renderPayload } from "/assets/payload-view.js";

const section = $("reveal");
const form = $("reveal-form");
const button = $("reveal-button");
const errorBox = $("reveal-error");
const buttonLabel = button.textContent;
const id = section.dataset.id;

const key = parseFragment(location.hash);
const secure = requireSecureContext(button);

if (!key || key.locked) {
  $("missing-key").hidden = false;
  form.hidden = true;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!key || !secure || button.disabled) return;
  showError(errorBox, "");
  button.disabled = true;
  try {
    await retrieve();
  } catch (e) {
    showError(errorBox, `Something went wrong in this browser: ${e?.message ?? e}`);
  } finally {
    button.disabled = false;
    button.textContent = buttonLabel;
  }
});

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
  renderPayload($("fields"), payload);
  section.hidden = true;
  $("revealed").hidden = false;
  $("fields").querySelector("button.copy")?.focus();
}

function forgetKey() {
  history.replaceState(null, "", location.pathname + location.search);
}
