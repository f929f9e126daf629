// The create page: check what the admin enters, encrypt it here, upload only
// ciphertext, and show the link with its key after '#'.

import { Encrypter, generateX25519Identity, identityToRecipient } from "/assets/age.js";
import { check, fieldsFromAzOutput } from "/assets/credential.js";
import {
  $, formatTime, lockedFragment, nextPaint, postJson, requireSecureContext, showError, toBase64, wireCopy,
} from "/assets/common.js";

const ENTRA_FIELDS = ["tenant_id", "client_id", "client_secret", "secret_expires_on", "cloud"];
const AZ_FIELDS = ["tenant_id", "client_id", "client_secret"];

const form = $("create-form");
const button = $("create-button");
const formError = $("form-error");
const buttonLabel = button.textContent;
const maxBytes = Number(form.dataset.maxBytes) || Infinity;

// Findings appear for a field once it has been left (or on submit), and then
// follow every keystroke; shouting "required" while someone types is noise.
const touched = new Set();
const CHECKED = [...ENTRA_FIELDS, "text", "passphrase", "passphrase_confirm"];

const secure = requireSecureContext(button, ...form.elements);

const templateId = () => form.querySelector('input[name="template"]:checked')?.value ?? "text";

// The local date: the admin compares the expiry with their own calendar.
function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function showTemplate() {
  const id = templateId();
  for (const fs of form.querySelectorAll("fieldset[data-template]")) fs.hidden = fs.dataset.template !== id;
  render();
}

/** Every finding of the current form, {field, level, message}, in field order. */
function findings() {
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

// The passphrase pair shares one finding line; it shows once either was left.
const shown = (field) => touched.has(field) || (field === "passphrase" && touched.has("passphrase_confirm"));

function render() {
  const all = findings();
  const names = [...ENTRA_FIELDS, "text", "passphrase"];
  for (const name of names) {
    const f = all.find((x) => x.field === name);
    const out = $(`${name}-finding`);
    const visible = f && shown(name);
    out.textContent = visible ? f.message : "";
    out.className = `finding${visible ? ` ${f.level}` : ""}`;
    const input = $(name);
    if (visible && f.level === "error") input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    if (name === "passphrase") {
      if (visible && f.level === "error") $("passphrase_confirm").setAttribute("aria-invalid", "true");
      else $("passphrase_confirm").removeAttribute("aria-invalid");
    }
  }
  return all;
}

for (const name of CHECKED) {
  const input = $(name);
  input.setAttribute("aria-describedby", `${name === "passphrase_confirm" ? "passphrase" : name}-finding`);
  input.addEventListener("blur", () => {
    touched.add(name);
    render();
  });
  input.addEventListener("change", () => {
    touched.add(name);
    render();
  });
  input.addEventListener("input", () => {
    if (AZ_FIELDS.includes(name) && fillFromAz(input.value)) return;
    render();
  });
}

// `az ad app credential reset` prints {"appId", "password", "tenant"}: pasted
// into any of the three fields, it fills all three, so nothing is retyped.
function fillFromAz(text) {
  const az = fieldsFromAzOutput(text);
  if (!az) return false;
  for (const name of AZ_FIELDS) {
    $(name).value = az[name];
    touched.add(name);
  }
  render();
  $("secret_expires_on").focus();
  return true;
}

for (const radio of form.querySelectorAll('input[name="template"]')) radio.addEventListener("change", showTemplate);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!secure) return;
  showError(formError, "");
  for (const name of CHECKED) touched.add(name);
  const all = render();
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
    // scrypt blocks the page for about a second; let the label show first.
    await nextPaint();
    const lock = new Encrypter();
    lock.setPassphrase(passphrase);
    fragment = lockedFragment(await lock.encrypt(identity));
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
  touched.clear();
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
