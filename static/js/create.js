// The create page: check what the admin enters, encrypt it here, upload only
// ciphertext, and show the link with its key after '#'.

import { Encrypter, generateX25519Identity, identityToRecipient } from "/assets/age.js";
import { check } from "/assets/credential.js";
import { ENTRA_FIELDS, today, wireFindings } from "/assets/findings.js";
import {
  $, formatTime, inLockWorker, postJson, requireSecureContext, showError, toBase64, wireCopy,
} from "/assets/common.js";

const form = $("create-form");
const button = $("create-button");
const formError = $("form-error");
const buttonLabel = button.textContent;
const maxBytes = Number(form.dataset.maxBytes) || Infinity;

const CHECKED = [...ENTRA_FIELDS, "text", "passphrase", "passphrase_confirm"];

const secure = requireSecureContext(button, ...form.elements);

const templateId = () => form.querySelector('input[name="template"]:checked')?.value ?? "text";

function showTemplate() {
  const id = templateId();
  for (const fs of form.querySelectorAll("fieldset[data-template]")) fs.hidden = fs.dataset.template !== id;
  render();
}

/** Every finding of the current form, {field, level, message}, in field order. */
function findings(touched) {
  const out = [];
  if (templateId() === "entra-app") {
    const fields = Object.fromEntries(ENTRA_FIELDS.map((n) => [n, $(n).value]));
    out.push(...check(fields, today()));
  } else if ($("text").value === "") {
    out.push({ field: "text", level: "error", code: "required", message: "This field is required." });
  }
  const pass = $("passphrase").value;
  const confirm = $("passphrase_confirm").value;
  if (pass !== confirm && touched.has("passphrase_confirm")) {
    out.push({ field: "passphrase", level: "error", code: "mismatch", message: "The two passphrases are not the same; type them again." });
  } else if (pass !== "" && [...pass].length < 8) {
    out.push({ field: "passphrase", level: "warning", code: "short",
      message: "Short passphrases can be guessed by whoever gets the link; use at least 8 characters, or a few words." });
  }
  return out;
}

// The passphrase pair shares one finding line.
const { render, touchAll, reset } = wireFindings({
  inputs: CHECKED,
  findings,
  outputOf: (name) => (name === "passphrase_confirm" ? "passphrase" : name),
});

for (const radio of form.querySelectorAll('input[name="template"]')) radio.addEventListener("change", showTemplate);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!secure) return;
  showError(formError, "");
  const all = touchAll();
  const firstError = all.find((f) => f.level === "error");
  if (firstError) {
    $(firstError.field).focus();
    return;
  }
  button.disabled = true;
  button.textContent = "Encrypting…";
  try {
    await create();
  } catch (e) {
    showError(formError, `Encryption failed in this browser: ${e?.message ?? e}. Nothing was sent.`);
  } finally {
    button.disabled = false;
    button.textContent = buttonLabel;
  }
});

function payload() {
  const template = templateId();
  const fields = template === "entra-app"
    ? Object.fromEntries(ENTRA_FIELDS.map((n) => [n, $(n).value]))
    : { text: $("text").value };
  const p = { v: 1, template, fields };
  const note = $("note").value.trim();
  if (note) p.note = note;
  return p;
}

async function create() {
  const template = templateId();
  const passphrase = $("passphrase").value;
  const identity = await generateX25519Identity();
  const e = new Encrypter();
  e.addRecipient(await identityToRecipient(identity));
  const ciphertext = await e.encrypt(new TextEncoder().encode(JSON.stringify(payload())));
  if (ciphertext.length > maxBytes) {
    showError(formError, `This is too large to send: encrypted it is ${ciphertext.length.toLocaleString()} bytes, and this server accepts at most ${maxBytes.toLocaleString()}. Shorten it and try again. Nothing was sent.`);
    return;
  }

  let fragment = identity;
  if (passphrase) {
    button.textContent = "Locking with the passphrase…";
    fragment = await inLockWorker({ op: "lock", identity, passphrase }, $("lock-progress"));
  }

  button.textContent = "Uploading…";
  const expiresIn = Number.parseInt($("expires_in").value, 10);
  const res = await postJson("/api/v1/secrets", {
    ciphertext: toBase64(ciphertext), expires_in: expiresIn, passphrase: Boolean(passphrase), template,
  });
  if (!res.ok) {
    showError(formError, `${res.data.message} Nothing was sent.`);
    return;
  }
  showResult(res.data, fragment, Boolean(passphrase));
}

function showResult(created, fragment, locked) {
  $("link").value = `${created.url}#${fragment}`;
  const expires = $("result-expires");
  expires.textContent = formatTime(created.expires_at);
  expires.title = created.expires_at;
  $("result-passphrase").hidden = !locked;
  $("status-link").href = created.status_url;
  // The values have done their job; do not leave them in the page.
  clearForm();
  $("compose").hidden = true;
  $("result").hidden = false;
  $("link").focus();
  $("link").select();
}

function clearForm() {
  const keepTemplate = templateId();
  form.reset();
  form.querySelector(`input[name="template"][value="${keepTemplate}"]`).checked = true;
  reset();
  showTemplate();
}

wireCopy(form.ownerDocument.querySelector('[data-copy="link"]'), () => $("link").value);
$("link").addEventListener("focus", (e) => e.target.select());

$("another").addEventListener("click", () => {
  $("link").value = "";
  $("result").hidden = true;
  $("compose").hidden = false;
  showError(formError, "");
  form.querySelector("input, textarea, select")?.focus();
});

showTemplate();
