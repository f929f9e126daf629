// Answering a request, shared by its two forms (credentials: answer.js;
// files: request-files.js): the payload is encrypted here twice — to the
// request's recipient (the PM's copy, opened with the key in the PM's
// private link) and to the SOC's recipients (the sealed copy that the
// collector decrypts) — and only the two ciphertexts are sent. Then the
// page shows the customer's receipt link.

import { Encrypter } from "/assets/age.js";
import { $, postJson, toBase64, wireCopy } from "/assets/common.js";

/**
 * The request an element of the page describes, from its data attributes:
 * `data-id`, `data-recipient`, `data-soc-recipients` (comma-separated) and
 * `data-max-bytes` (the most an encrypted copy may be).
 */
export function requestOf(el) {
  return {
    id: el.dataset.id,
    recipient: el.dataset.recipient,
    socRecipients: (el.dataset.socRecipients || "").split(",").filter(Boolean),
    maxBytes: Number(el.dataset.maxBytes) || Infinity,
  };
}

async function encryptTo(recipients, bytes) {
  const e = new Encrypter();
  for (const r of recipients) e.addRecipient(r);
  return e.encrypt(bytes);
}

/**
 * Encrypts `payload` (the JSON object of README "Requests") to the PM and
 * the SOC and posts the answer of `request`, with `extra` fields in the
 * body beside the ciphertexts (a files answer's `transfer`). Resolves to
 * `{ok: true, statusUrl}`, or `{ok: false, status, error, message}` with
 * the server's code and sentence; status 413 when a copy is over `request.maxBytes`,
 * which is checked here before anything is sent.
 */
export async function sendAnswer(request, payload, extra = {}) {
  const plain = new TextEncoder().encode(JSON.stringify(payload));
  const pm = await encryptTo([request.recipient], plain);
  const sealed = request.socRecipients.length ? await encryptTo(request.socRecipients, plain) : null;
  if (Math.max(pm.length, sealed?.length ?? 0) > request.maxBytes) {
    return { ok: false, status: 413, message: `This is too large to send (at most ${request.maxBytes.toLocaleString()} bytes encrypted).` };
  }
  const body = { pm_ciphertext: toBase64(pm), ...extra };
  if (sealed) body.sealed_ciphertext = toBase64(sealed);
  const res = await postJson(`/api/v1/requests/${encodeURIComponent(request.id)}/answer`, body);
  if (!res.ok) return { ok: false, status: res.status, error: res.data.error, message: res.data.message };
  return { ok: true, statusUrl: res.data.status_url };
}

/** Swaps the form (section compose) for the result (section result) with the receipt link. */
export function showReceipt(statusUrl) {
  $("receipt-link").value = statusUrl;
  $("receipt-open").href = statusUrl;
  $("compose").hidden = true;
  $("result").hidden = false;
  $("receipt-link").focus();
}

wireCopy(document.querySelector('[data-copy="receipt"]'), () => $("receipt-link").value);
$("receipt-link").addEventListener("focus", (e) => e.target.select());
