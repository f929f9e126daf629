// The customer's request page for credentials: check the values, then
// encrypt and send them as request-answer.js does for every answer.

import { check } from "/assets/credential.js";
import { ENTRA_FIELDS, today, wireFindings } from "/assets/findings.js";
import { $, postJson, requireSecureContext, showError, wireCopy } from "/assets/common.js";
import { requestOf, sendAnswer, showReceipt } from "/assets/request-answer.js";

const form = $("answer-form");
const button = $("answer-button");
const formError = $("form-error");
const buttonLabel = button.textContent;
const { template } = form.dataset;
const request = requestOf(form);
const { id } = request;

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

async function send() {
  button.textContent = "Sending…";
  const sent = await sendAnswer(request, payload());
  if (!sent.ok) {
    showError(formError, sent.status === 413 ? `${sent.message} Shorten the note. Nothing was sent.` : sent.message);
    return;
  }
  form.reset();
  reset();
  showReceipt(sent.statusUrl);
}
