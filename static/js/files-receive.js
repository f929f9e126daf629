// The recipient's page for files (/f/{id}). Loading it consumes nothing; the
// "Show the files" button claims the transfer, once: from then on the server
// hands the pieces only to this browser (the download token), until the
// grace time, and to nobody after. The page decrypts the list of files here,
// refuses unsafe names, and saves each file as a download streamed to disk
// (files-save.js, shared with the PM's retrieval page).
//
// A download that breaks can be finished by this browser tab within the
// grace time: the claim and the key stay in sessionStorage until every file
// is saved, so a reload shows the files again.

import { identityToRecipient } from "/assets/age.js";
import { $, forgetKey, linkKey, postJson, requireSecureContext, showError } from "/assets/common.js";
import { BLOB_LIMIT } from "/assets/files-format.js";
import { ManifestError, showFiles } from "/assets/files-save.js";

// The page comes in two forms: waiting (#transfer, with the Reveal button),
// or gone (#gone), which is what the server shows once the files are
// claimed; the tab that claimed them still finishes its downloads there.
const gonePage = $("gone");
const section = $("transfer") ?? gonePage;
const id = section.dataset.id;
const openForm = $("open-form");
const openButton = $("open-button");
const openError = $("open-error");
const CLAIM_KEY = `handoff.files.claim.${id}`;

const secure = gonePage ? Boolean(globalThis.crypto?.subtle) : requireSecureContext(openButton);
const hasWorker = "serviceWorker" in navigator;

// ---------------------------------------------------------------------------
// Before the claim

function keptClaim() {
  try {
    const kept = JSON.parse(sessionStorage.getItem(CLAIM_KEY) ?? "null");
    if (!kept?.claim || !kept.identity) return null;
    if (new Date(kept.claim.grace_until).getTime() <= Date.now()) {
      sessionStorage.removeItem(CLAIM_KEY);
      return null;
    }
    return kept;
  } catch {
    return null;
  }
}

const kept = secure && id ? keptClaim() : null;
const key = kept || gonePage ? null : linkKey();
if (kept) {
  forgetKey();
  show(kept.identity, kept.claim);
} else if (gonePage) {
  // Nothing to open here: take the key out of the address bar and history.
  linkKey();
  forgetKey();
} else if (!key) {
  $("missing-key").hidden = false;
  openForm.hidden = true;
} else if (key.locked) {
  showError(openError, "This link carries a passphrase-locked key, which file links do not use. Ask the sender for the link again.");
  openForm.hidden = true;
} else if (!hasWorker && Number(section.dataset.size) > BLOB_LIMIT) {
  $("no-stream").hidden = false;
}

openForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!secure || !key || key.locked || openButton.disabled) return;
  openButton.disabled = true;
  const label = openButton.textContent;
  openButton.textContent = "Opening…";
  showError(openError, "");
  try {
    await claim(key.identity);
  } catch (e) {
    showError(openError, `Something went wrong in this browser: ${e?.message ?? e}`);
  } finally {
    openButton.disabled = false;
    openButton.textContent = label;
  }
});

async function claim(identity) {
  try {
    await identityToRecipient(identity); // throws on a damaged key (bad checksum)
  } catch {
    showError(openError, "The key in this link is damaged, so the files could not be opened. Nothing was used up; ask the sender for the link again.");
    return;
  }
  const res = await postJson(`/api/v1/transfers/${encodeURIComponent(id)}/claim`);
  if (res.status === 404) {
    forgetKey();
    openForm.hidden = true;
    section.querySelector(".lead").hidden = true;
    $("open-gone").hidden = false;
    return;
  }
  if (!res.ok) {
    showError(openError, res.data.message);
    return;
  }
  sessionStorage.setItem(CLAIM_KEY, JSON.stringify({ identity, claim: res.data }));
  forgetKey();
  await show(identity, res.data);
}

async function show(identity, claimed) {
  const forget = () => sessionStorage.removeItem(CLAIM_KEY);
  section.hidden = true;
  try {
    await showFiles({ transferId: id, identity, claimed, forget });
  } catch (e) {
    section.hidden = false;
    if (!(e instanceof ManifestError)) throw e;
    forget();
    if (!openForm) return;
    openForm.hidden = true;
    showError(
      openError,
      e.old
        ? "These files were sent with an earlier version of handoff, which this page no longer reads. They are no longer available; ask the sender to send them again."
        : "The files were received but their list could not be decrypted with this link's key. They are no longer available; ask the sender to send them again.",
    );
  }
}
