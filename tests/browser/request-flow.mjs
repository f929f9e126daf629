// The whole request round trip, in Chromium, as its three people do it:
// staff sign in and create a request; the customer opens the link, makes the
// classic mistake (the Secret ID in the secret field), is stopped by the form
// with nothing sent, corrects it and answers; the PM retrieves the answer once
// through the private link, and a second retrieval finds nothing.
//
// Inputs:
//   HANDOFF_URL        server base
//   HANDOFF_STAFF      staff user name;  HANDOFF_STAFF_PASSWORD its password
//   HANDOFF_CUSTOMER   customer label;   HANDOFF_TEMPLATE integration id
//   HANDOFF_FIELDS     JSON of the Entra fields the customer enters
//   HANDOFF_SECRET_ID  a GUID typed into the secret field first
//   HANDOFF_EXPECT_FINDINGS  optional JSON list of {set, field, level, text} that the
//                      customer's form must show (see lib.mjs expectFindings)
//   HANDOFF_ESCAPED_RETRIEVAL  "1": the PM opens the retrieval link with its '#'
//                      rewritten to %23, as a mail gateway passes it on
// Output: {"customer_link", "retrieval_link", "receipt_url", "revealed": {field: value},
//          "expiry_note": text or null, "dashboard_state", "second_try": "<text>",
//          "credential_noted": the status of the page's register report or null,
//          "register_row": the Credentials page's first row, as text}

import {
  check, checkClean, checkKeyMovedToFragment, env, escapeFragment, expectFindings, expiryNote, optionalEnv, posts, run, watch,
} from "./lib.mjs";

const base = env("HANDOFF_URL");
const fields = JSON.parse(env("HANDOFF_FIELDS"));
const secretId = env("HANDOFF_SECRET_ID");
const expectedFindings = JSON.parse(optionalEnv("HANDOFF_EXPECT_FINDINGS") ?? "[]");
const escapedRetrieval = optionalEnv("HANDOFF_ESCAPED_RETRIEVAL") === "1";

async function fill(page, values) {
  for (const [name, value] of Object.entries(values)) {
    const el = page.locator(`#${name}`);
    if (name === "cloud") await el.selectOption(value);
    else await el.fill(value);
    await el.blur();
  }
}

/** Waits for the result section, or fails with what the form said instead. */
async function result(page, what, log) {
  try {
    await page.locator("#result:not([hidden]), #form-error:not([hidden])").first().waitFor({ state: "visible" });
  } catch {
    const findings = await page.locator(".finding:not(:empty)").allTextContents();
    throw new Error(`${what}: neither a result nor an error appeared; findings: ${JSON.stringify(findings)}; ` +
      `page errors: ${JSON.stringify(log.pageErrors)}; console: ${JSON.stringify(log.consoleErrors)}; CSP: ${JSON.stringify(log.cspViolations)}`);
  }
  if (await page.locator("#form-error").isVisible()) {
    throw new Error(`${what} failed in the page: ${await page.locator("#form-error").textContent()}`);
  }
}

await run(async (browser) => {
  // 1. Staff sign in and create the request.
  const staffContext = await browser.newContext();
  const staff = await staffContext.newPage();
  const staffLog = await watch(staff);
  await staff.goto(`${base}/staff`);
  check(new URL(staff.url()).pathname === "/login", `an anonymous visit to /staff went to ${staff.url()}, not the login page`);
  await staff.locator("#name").fill(env("HANDOFF_STAFF"));
  await staff.locator("#password").fill(env("HANDOFF_STAFF_PASSWORD"));
  await Promise.all([staff.waitForURL(`${base}/staff`), staff.locator('button[type="submit"]').first().click()]);
  await staff.locator('a[href="/staff/requests/new"]').first().click();
  await staff.locator("#customer").fill(env("HANDOFF_CUSTOMER"));
  await staff.locator("#template").selectOption(env("HANDOFF_TEMPLATE"));
  await staff.locator("#request-button").click();
  await result(staff, "creating the request", staffLog);
  const customerLink = await staff.locator("#customer-link").inputValue();
  const retrievalLink = await staff.locator("#retrieval-link").inputValue();
  check(retrievalLink.includes("#AGE-SECRET-KEY-1"), `the retrieval link has no key: ${retrievalLink}`);
  const created = posts(staffLog, /^\/api\/v1\/requests$/);
  check(created.length === 1, "the request was not created with one POST");
  check(!created[0].body.includes("AGE-SECRET-KEY"), "the request's identity was sent to the server");

  // 2. The customer, in a browser of their own.
  const customerContext = await browser.newContext();
  const customer = await customerContext.newPage();
  const log = await watch(customer);
  await customer.goto(customerLink);
  check(await customer.locator("#guide").isVisible(), "the integration's guide is not shown to the customer");
  await fill(customer, { ...fields, client_secret: secretId });
  const boxes = await customer.locator('input[type="checkbox"][data-checklist]').all();
  check(boxes.length > 0, "the template's checklist is not shown");
  for (const box of boxes.slice(1)) await box.check();
  await customer.locator("#answer-button").click();
  const finding = customer.locator("#client_secret-finding");
  await finding.waitFor({ state: "visible", timeout: 5_000 });
  const said = await finding.textContent();
  check(/Secret ID/i.test(said), `the Secret-ID mistake was not explained: ${JSON.stringify(said)}`);
  await customer.waitForTimeout(300);
  check(posts(log, /\/answer$/).length === 0, "an answer was sent although the form showed an error");

  const unticked = await customer.locator("#checklist-finding").textContent();
  check(/Tick each step/.test(unticked), `an unticked checklist item was not flagged: ${JSON.stringify(unticked)}`);
  await fill(customer, { client_secret: fields.client_secret });
  await expectFindings(customer, fill, expectedFindings);
  await fill(customer, { secret_expires_on: fields.secret_expires_on });
  await boxes[0].check();
  await customer.locator("#answer-button").click();
  await result(customer, "answering", log);
  const receiptUrl = await customer.locator("#receipt-link").inputValue();
  const answers = posts(log, /\/answer$/);
  check(answers.length === 1, `expected one answer POST, saw ${answers.length}`);
  for (const value of Object.values(fields)) {
    if (value.length > 8) check(!answers[0].body.includes(value), "a credential went to the server in plaintext");
  }
  // Answered once: the link now says so.
  await customer.goto(customerLink);
  check(await customer.locator("#request-closed").isVisible(), "the answered request's link still shows the form");
  checkClean(log, "customer page");

  // 3. The dashboard shows the answer.
  await staff.goto(`${base}/staff`);
  const dashboardState = await staff.locator("tr[data-state]").first().getAttribute("data-state");

  // 4. The PM retrieves once.
  const pm = await staffContext.newPage();
  const pmLog = await watch(pm);
  const opened = await pm.goto(escapedRetrieval ? escapeFragment(retrievalLink) : retrievalLink);
  check(opened.status() === 200, `the retrieval page answered ${opened.status()}`);
  if (escapedRetrieval) await checkKeyMovedToFragment(pm, retrievalLink);
  // After decrypting, the page reports the credential's client ID and expiry
  // for the register.
  const noted = pm.waitForResponse((r) => r.url().endsWith("/credential"), { timeout: 10000 })
    .then((r) => r.status()).catch(() => null);
  await pm.locator("#reveal-button").click();
  await pm.locator("#revealed").waitFor({ state: "visible" });
  const credentialNoted = await noted;
  const revealed = {};
  for (const name of Object.keys(fields)) revealed[name] = await pm.locator(`#out-${name}`).inputValue();
  const note = await expiryNote(pm);
  check(!pm.url().includes("#"), "the key stayed in the address bar after retrieval");
  checkClean(pmLog, "retrieval page");

  // 5. A second retrieval finds nothing.
  const again = await staffContext.newPage();
  await again.goto(retrievalLink);
  check(await again.locator("#reveal-form").isHidden(), "a second retrieval still offers the button");
  const secondTry = await again.locator("#reveal .lead").textContent();

  // 6. The Credentials register shows what the PM's page reported.
  await staff.goto(`${base}/staff/credentials`);
  const registerRow = await staff.locator("tr[data-standing]").first().textContent().catch(() => null);
  checkClean(staffLog, "staff pages");

  return {
    customer_link: customerLink,
    retrieval_link: retrievalLink,
    receipt_url: receiptUrl,
    revealed,
    expiry_note: note,
    dashboard_state: dashboardState,
    second_try: secondTry.trim(),
    credential_noted: credentialNoted,
    register_row: registerRow?.replace(/\s+/g, " ").trim() ?? null,
  };
});
