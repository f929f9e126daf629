// The customer's page of a files request (/r/{id} whose template is of kind
// `files`): the files are encrypted and uploaded as a transfer bound to the
// request (files-upload.js); once the server has every piece, the page
// answers the request as every answer is sent (request-answer.js), with the
// payload {"v":1,"template":…,"fields":{"transfer":id,"key":AGE-SECRET-KEY-1…},"note":message}
// and the transfer's id in the clear beside the ciphertexts. The key
// reaches the PM and the SOC only inside their encrypted copies.

import { $, postJson } from "/assets/common.js";
import { UploadError, wireSender } from "/assets/files-upload.js";
import { requestOf, sendAnswer, showReceipt } from "/assets/request-answer.js";

// The request's data is on the section; the form's data-max-bytes is the
// transfer limit that files-upload.js reads.
const section = $("compose");
const request = requestOf(section);

async function answer(upload) {
  $("upload-status").textContent = "Every file is uploaded. Sending the answer…";
  const payload = { v: 1, template: section.dataset.template, fields: { transfer: upload.id, key: upload.identity } };
  if (upload.message) payload.note = upload.message;
  const sent = await sendAnswer(request, payload, { transfer: upload.id });
  if (!sent.ok) {
    // A passing failure (the network, the server) keeps the upload for Try
    // again; a closed request (answered, cancelled, expired) ends it.
    const passing = sent.status === 0 || sent.status === 408 || sent.status === 429 || sent.status >= 500
      || sent.error === "incomplete";
    throw new UploadError(sent.status === 413 ? `${sent.message} Shorten the message.` : sent.message, !passing && sent.status !== 413);
  }
  showReceipt(sent.statusUrl);
}

const { secure } = wireSender({
  storeKey: `handoff.request.files.${request.id}`,
  bind: () => ({ request: request.id }),
  messageInManifest: false,
  per: "request",
  splitAdvice: "Put them in a compressed archive, or send the rest through another request from your SOC.",
  restartable: false,
  done: answer,
});

// Tell the server the page was opened in a browser (link scanners that only
// fetch do not run this). Best effort: failure changes nothing for the customer.
if (secure) postJson(`/api/v1/requests/${encodeURIComponent(request.id)}/opened`).catch(() => {});
