// The customer's request page: check the values, encrypt them here twice —
// to the request's recipient (the PM's copy, opened with the key in the PM's
// private link) and to the SOC's recipients (the sealed copy that the
// collector decrypts) — and send only the two ciphertexts.

import { Encrypter } from "/assets/age.js";
import { check } from "/assets/credential.js";
import { ENTRA_FIELDS, today, wireFindings } from "/assets/findings.js";
import { $, postJson, requireSecureContext, showError, toBase64, wireCopy } from "/assets/common.js";

const form = $("answer-form");
const button = $("answer-button");
const formError = $("form-error");
const buttonLabel = button.textContent;
const { id, template, recipient } = form.dataset;
const socRecipients = (form.dataset.socRecipients || "").split(",").filter(Boolean);
const maxBytes = Number(form.dataset.maxBytes) || Infinity;

// The template's own fields, declared in the page: each input with
// data-extra, `required`, and an optional pattern with its message.
const extras = [...form.querySelectorAll("[data-extra]")];
const checklist = [...form.querySelectorAll('input[type="checkbox"][data-checklist]')];

// Each extra field's pattern, compiled once. A pattern that does not compile
// (a mistake in a custom template) is skipped rather than breaking the form.
const patterns = new Map();
for (const input of extras) {
  if (!input.dataset.pattern) continue;
  try {
    patterns.set(input, new RegExp(`^(?:${input.dataset.pattern})$`));
  } catch {
    console.warn(`the template's pattern for ${input.name} is not a valid regular expression; it is not checked`);
  }
}

const secure = requireSecureContext(button, ...form.elements);

// The az commands differ per cloud (cloud name, role ids, consent): show the
// ones for the cloud chosen in the form, which offers only the template's.
const azScripts = [...document.querySelectorAll("[data-az-cloud]")];
function showAzFor(cloud) {
  for (const block of azScripts) block.hidden = block.dataset.azCloud !== cloud;
}
$("cloud").addEventListener("change", () => showAzFor($("cloud").value));
showAzFor($("cloud").value);
for (const b of document.querySelectorAll("button[data-copy-text-from]")) {
  b.hidden = false;
  wireCopy(b, () => $(b.dataset.copyTextFrom).textContent);
}

function findings() {
  const fields = Object.fromEntries(ENTRA_FIELDS.map((n) => [n, $(n).value]));
  const out = check(fields, today());
  for (const input of extras) {
    const value = input.value.trim();
    if (input.required && value === "") {
      out.push({ field: input.id, level: "error", code: "required", message: "This field is required." });
    } else if (value !== "" && patterns.has(input) && !patterns.get(input).test(value)) {
      out.push({ field: input.id, level: "error", code: "pattern", message: input.dataset.patternMessage || "This value does not have the expected form." });
    }
  }
  if (checklist.length && checklist.some((c) => !c.checked)) {
    out.push({ field: "checklist", level: "error", code: "checklist", message: "Tick each step once it is done; the SOC needs all of them." });
  }
  return out;
}

const { touchAll, reset } = wireFindings({
  inputs: [...ENTRA_FIELDS, ...extras.map((e) => e.id), ...checklist.map((c) => c.id)],
  findings,
  outputOf: (name) => (checklist.some((c) => c.id === name) ? "checklist" : name),
});

// Tell the server the page was opened in a browser (link scanners that only
// fetch do not run this). Best effort: failure changes nothing for the customer.
if (secure) postJson(`/api/v1/requests/${encodeURIComponent(id)}/opened`).catch(() => {});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!secure || button.disabled) return;
  showError(formError, "");
  const firstError = touchAll().find((f) => f.level === "error");
  if (firstError) {
    const target = firstError.field === "checklist" ? checklist.find((c) => !c.checked) : $(firstError.field);
    target?.focus();
    return;
  }
  button.disabled = true;
  button.textContent = "Encrypting…";
  try {
    await send();
  } catch (e) {
    showError(formError, `Encryption failed in this browser: ${e?.message ?? e}. Nothing was sent.`);
  } finally {
    button.disabled = false;
    button.textContent = buttonLabel;
  }
});

function payload() {
  const fields = Object.fromEntries(ENTRA_FIELDS.map((n) => [n, $(n).value.trim()]));
  for (const input of extras) if (input.value.trim() !== "") fields[input.name] = input.value.trim();
  const p = { v: 1, template, fields };
  const note = $("note").value.trim();
  if (note) p.note = note;
  return p;
}

async function encryptTo(recipients, bytes) {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return e.encrypt(bytes);
}

async function send() {
  const plain = new TextEncoder().encode(JSON.stringify(payload()));
  const pm = await encryptTo([recipient], plain);
  const sealed = socRecipients.length ? await encryptTo(socRecipients, plain) : null;
  if (Math.max(pm.length, sealed?.length ?? 0) > maxBytes) {
    showError(formError, `This is too large to send (at most ${maxBytes.toLocaleString()} bytes encrypted). Shorten the note. Nothing was sent.`);
    return;
  }
  button.textContent = "Sending…";
  const body = { pm_ciphertext: toBase64(pm) };
  if (sealed) body.sealed_ciphertext = toBase64(sealed);
  const res = await postJson(`/api/v1/requests/${encodeURIComponent(id)}/answer`, body);
  if (!res.ok) {
    showError(formError, res.data.message);
    return;
  }
  form.reset();
  reset();
  $("receipt-link").value = res.data.status_url;
  $("receipt-open").href = res.data.status_url;
  $("compose").hidden = true;
  $("result").hidden = false;
  $("receipt-link").focus();
}

wireCopy(document.querySelector('[data-copy="receipt"]'), () => $("receipt-link").value);
$("receipt-link").addEventListener("focus", (e) => e.target.select());
