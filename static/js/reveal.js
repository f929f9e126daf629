// The reveal page (/s/{id}). Loading it consumes nothing: scanners and link
// previews may fetch it at will. Only the Reveal button's POST burns the link,
// and only after everything that can fail here (a missing or damaged key, a
// wrong passphrase) has been checked, so that a mistake never uses it up.

import { Decrypter, identityToRecipient } from "/assets/age.js";
import {
  $, forgetKey, fromBase64, inLockWorker, linkKey, onSubmit, postJson, requireSecureContext, showError,
} from "/assets/common.js";
import { showRevealed } from "/assets/payload-view.js";

const section = $("reveal");
const form = $("reveal-form");
const button = $("reveal-button");
const errorBox = $("reveal-error");
const passInput = $("passphrase");
const id = section.dataset.id;

const key = linkKey();
const secure = requireSecureContext(button, passInput);

// The fragment decides whether a passphrase is needed, not the page: it is
// what actually has to be unlocked.
$("passphrase-field").hidden = !key?.locked;
if (!key) {
  $("missing-key").hidden = false;
  form.hidden = true;
} else if (key.locked && secure) {
  passInput.focus();
}

onSubmit(form, button, errorBox, () => key && secure, reveal);

async function reveal() {
  // 1. Get the identity, entirely here. Nothing has been sent yet.
  let identity = key.identity;
  if (key.locked) {
    const pass = passInput.value;
    if (!pass) {
      showError(errorBox, "Enter the passphrase the sender gave you.");
      passInput.focus();
      return;
    }
    button.textContent = "Unlocking…";
    try {
      identity = await inLockWorker({ op: "unlock", fragment: key.fragment, passphrase: pass }, $("unlock-progress"));
    } catch {
      showError(errorBox, "That passphrase is not right. Nothing was revealed and the link still works; try again.");
      passInput.select();
      return;
    }
  }
  try {
    await identityToRecipient(identity); // throws on a damaged key (bad checksum)
  } catch {
    showError(errorBox, "The key in this link is damaged, so the secret could not be opened. Nothing was revealed; ask the sender for the link again.");
    return;
  }

  // 2. Burn the link and receive the ciphertext, exactly once.
  button.textContent = "Revealing…";
  const res = await postJson(`/api/v1/secrets/${encodeURIComponent(id)}/reveal`);
  if (res.status === 404) {
    form.hidden = true;
    forgetKey();
    showGone();
    return;
  }
  if (!res.ok) {
    showError(errorBox, res.data.message);
    return;
  }

  // 3. Decrypt here.
  let payload;
  try {
    const d = new Decrypter();
    d.addIdentity(identity);
    payload = JSON.parse(await d.decrypt(fromBase64(res.data.ciphertext), "text"));
  } catch {
    forgetKey();
    form.hidden = true;
    showError(errorBox, "The secret was received but could not be decrypted with this link's key. It is now deleted from the server; ask the sender to send it again.");
    return;
  }
  forgetKey();
  showRevealed(section, payload);
}

function showGone() {
  section.querySelector(".lead").hidden = true;
  $("reveal-gone").hidden = false;
}
