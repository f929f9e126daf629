// Staff create a request. The request's age identity is made here and never
// sent: the server gets its recipient, and the identity goes into the PM's
// retrieval link fragment, shown once.

import { generateX25519Identity, identityToRecipient } from "/assets/age.js";
import { $, postJson, requireSecureContext, showError, wireCopy } from "/assets/common.js";

const form = $("request-form");
const button = $("request-button");
const formError = $("form-error");
const secure = requireSecureContext(button, ...form.elements);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!secure || button.disabled) return;
  showError(formError, "");
  const customer = $("customer").value.trim();
  const finding = $("customer-finding");
  if (!customer) {
    finding.textContent = "Name the customer, so that you and the customer recognise the request.";
    finding.className = "finding error";
    $("customer").focus();
    return;
  }
  finding.textContent = "";
  finding.className = "finding";
  button.disabled = true;
  try {
    await create(customer);
  } catch (e) {
    showError(formError, `Something went wrong in this browser: ${e?.message ?? e}. No request was created.`);
  } finally {
    button.disabled = false;
  }
});

async function create(customer) {
  const identity = await generateX25519Identity();
  const body = {
    customer,
    template: $("template").value,
    expires_in: Number.parseInt($("expires_in").value, 10),
    note: $("note").value.trim(),
    recipient: await identityToRecipient(identity),
  };
  const contact = $("contact_email").value.trim();
  if (contact) body.contact_email = contact;
  if ($("email_link")?.checked) body.email_link = true;
  const reissued = $("reissued_from").value;
  if (reissued) body.reissued_from = reissued;
  const res = await postJson("/api/v1/requests", body, { "X-CSRF-Token": form.dataset.csrf });
  if (!res.ok) {
    showError(formError, `${res.data.message} No request was created.`);
    return;
  }
  const data = res.data;
  $("customer-link").value = data.url;
  $("retrieval-link").value = `${data.retrieval_url}#${identity}`;
  $("request-page").href = `/staff/requests/${data.id}`;
  form.reset();
  $("compose").hidden = true;
  $("result").hidden = false;
  $("customer-link").focus();
}

wireCopy(document.querySelector('[data-copy="customer"]'), () => $("customer-link").value);
wireCopy(document.querySelector('[data-copy="retrieval"]'), () => $("retrieval-link").value);
for (const id of ["customer-link", "retrieval-link"]) $(id).addEventListener("focus", (e) => e.target.select());
