// The first click on submit counts, even when leaving the last field makes a
// message appear above the button. Clicking moves focus at mouse-down; a
// message that pushed the button down before mouse-up would leave the
// mouse-up elsewhere, and the browser would fire no click at all.
//
// On the public page and on the customer's request page, the script fills
// the form, types last into the client secret a value of an older shape
// (which draws a warning, not an error, once the field is left) and clicks
// the submit button straight away, with a real mouse click at its position.
// Then it waits for the link (or receipt) that
// only a submission makes.
//
// Inputs:
//   HANDOFF_URL          server base
//   HANDOFF_REQUEST_URL  the customer's link to an open request
//   HANDOFF_FIELDS       JSON of the Entra fields (tenant_id, client_id, secret_expires_on)
//   HANDOFF_OLD_SECRET   a client secret that draws the secret_shape warning
// Output: {"public": Outcome, "request": Outcome}, each Outcome being
//   {"submitted": bool, "posts": n, "warning": "<the finding shown>", "moved_by": px}

import { check, env, posts, run, watch } from "./lib.mjs";

const fields = JSON.parse(env("HANDOFF_FIELDS"));
const oldSecret = env("HANDOFF_OLD_SECRET");
// A screen that shows the secret field and the submit button together.
const SCREEN = { width: 1280, height: 1000 };

/** Fills the Entra fields except the secret, each left as a person would. */
async function fillAllButSecret(page) {
  for (const [name, value] of Object.entries(fields)) {
    const el = page.locator(`#${name}`);
    await el.fill(value);
    await el.blur();
  }
}

/**
 * Types the secret, clicks `button` at once and reports whether `done`
 * (the selector only a submission shows) appeared, how many POSTs to
 * `path` were made, and how far the button moved.
 */
async function typeThenClick(page, log, button, done, path) {
  const secret = page.locator("#client_secret");
  await secret.fill(oldSecret);
  // What the message said, kept even if a submission clears the form after.
  await page.locator("#client_secret-finding").evaluate((finding) => {
    new MutationObserver(() => {
      if (finding.textContent) window.handoffWarning = finding.textContent;
    }).observe(finding, { childList: true, characterData: true, subtree: true });
  });
  // The field and the button in view together, as someone who typed and
  // then reached for the button sees them. (Were the field above the view,
  // the browser's scroll anchoring would keep the button in place.)
  await page.locator('label[for="client_secret"]').evaluate((label) => label.scrollIntoView({ block: "start" }));
  const before = await page.locator(button).boundingBox();
  check(before.y + before.height <= page.viewportSize().height, `${button} is below the view, ${Math.round(before.y)} px down`);
  // page.mouse, not locator.click: Playwright's click checks what each of its
  // events hits and tries again when the target moved, which hides this very bug.
  await page.mouse.click(before.x + before.width / 2, before.y + before.height / 2, { delay: 80 });
  let submitted = true;
  try {
    await page.locator(done).waitFor({ state: "visible", timeout: 5_000 });
  } catch {
    submitted = false;
  }
  const warning = await page.evaluate(() => window.handoffWarning ?? "");
  const after = submitted ? before : await page.locator(button).boundingBox();
  return { submitted, posts: posts(log, path).length, warning, moved_by: Math.round(after.y - before.y) };
}

await run(async (browser) => {
  const sender = await browser.newPage({ viewport: SCREEN });
  const senderLog = await watch(sender);
  await sender.goto(env("HANDOFF_URL") + "/");
  await sender.locator("#template-entra-app").check();
  await fillAllButSecret(sender);
  const publicPage = await typeThenClick(sender, senderLog, "#create-button", "#result", /^\/api\/v1\/secrets$/);

  const customer = await browser.newPage({ viewport: SCREEN });
  const customerLog = await watch(customer);
  await customer.goto(env("HANDOFF_REQUEST_URL"));
  await fillAllButSecret(customer);
  for (const box of await customer.locator('input[type="checkbox"][data-checklist]').all()) await box.check();
  const requestPage = await typeThenClick(customer, customerLog, "#answer-button", "#result", /\/answer$/);

  return { public: publicPage, request: requestPage };
});
