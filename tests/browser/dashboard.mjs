// The PM's dashboard and the confirmation steps, as people use them: with
// the page's scripts (relative times, filter and search, copy buttons) and
// without JavaScript (the table complete, times readable, a confirm step
// that still works).
//
// Inputs:
//   HANDOFF_URL           server base
//   HANDOFF_STAFF         staff user name; HANDOFF_STAFF_PASSWORD its password
//   HANDOFF_FIELDS        JSON of valid Entra fields for an answer and a link
// Output: {"bad_contact", "times", "ahead", "waiting", "filter", "copy", "nojs", "cancel", "withdraw", "destroy"}

import { check, checkClean, env, run, watch } from "./lib.mjs";

const base = env("HANDOFF_URL");
const fields = JSON.parse(env("HANDOFF_FIELDS"));
const LAPTOP = { width: 1280, height: 800 };

async function signIn(page) {
  await page.goto(`${base}/staff`);
  await page.locator("#name").fill(env("HANDOFF_STAFF"));
  await page.locator("#password").fill(env("HANDOFF_STAFF_PASSWORD"));
  await Promise.all([page.waitForURL(`${base}/staff`), page.locator("#login-button").click()]);
}

async function createRequest(staff, customer) {
  await staff.goto(`${base}/staff/requests/new`);
  await staff.locator("#customer").fill(customer);
  await staff.locator("#template").selectOption("o365-management");
  await staff.locator("#request-button").click();
  await staff.locator("#result").waitFor({ state: "visible" });
  return {
    customer: await staff.locator("#customer-link").inputValue(),
    page: await staff.locator("#request-page").getAttribute("href"),
  };
}

/** The customers of the rows a reader sees, in order. */
const visibleCustomers = (page) => page.locator("table.requests tbody tr:visible td:first-child a").allTextContents();

const stateOf = (page) => page.locator("section[data-state]").getAttribute("data-state");

/**
 * Presses `button` on the page, then on the confirmation page first "Keep
 * it" (nothing happens), then the button again and "Yes": what each step showed.
 */
async function confirmTwice(page, button) {
  const back = page.url();
  const steps = {};
  await Promise.all([page.waitForURL((u) => u.href !== back), page.locator(button).click()]);
  steps.asked = (await page.locator("#confirm h1").textContent()).trim();
  await Promise.all([page.waitForURL(back), page.locator("#confirm-back").click()]);
  steps.kept = await stateOf(page);
  await Promise.all([page.waitForURL((u) => u.href !== back), page.locator(button).click()]);
  await Promise.all([page.waitForURL(back), page.locator("#confirm-button").click()]);
  steps.done = await stateOf(page);
  return steps;
}

await run(async (browser) => {
  const out = {};
  const context = await browser.newContext({ viewport: LAPTOP });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const staff = await context.newPage();
  const log = await watch(staff);
  await signIn(staff);
  // A contact address that is not one: the API's sentence on the page, and
  // no request is made.
  await staff.goto(`${base}/staff/requests/new`);
  await staff.locator("#customer").fill("Tailspin");
  await staff.locator("#contact_email").fill("admin at tailspin");
  await staff.locator("#request-button").click();
  await staff.locator("#form-error").waitFor({ state: "visible" });
  out.bad_contact = {
    error: (await staff.locator("#form-error").textContent()).trim(),
    created: await staff.locator("#result").isVisible(),
  };
  const made = {};
  for (const name of ["Contoso", "Fabrikam", "Northwind"]) made[name] = await createRequest(staff, name);

  // The customer answers Contoso's request and gets a receipt page.
  const customer = await context.newPage();
  const customerLog = await watch(customer);
  await customer.goto(made.Contoso.customer);
  for (const [name, value] of Object.entries(fields)) {
    await customer.locator(`#${name}`).fill(value);
    await customer.locator(`#${name}`).blur();
  }
  for (const box of await customer.locator('input[type="checkbox"][data-checklist]').all()) await box.check();
  await customer.locator("#answer-button").click();
  await customer.locator("#result").waitFor({ state: "visible", timeout: 30_000 });
  const receipt = await customer.locator("#receipt-link").inputValue();

  await staff.goto(`${base}/staff`);
  out.times = await staff.locator("table.requests time").evaluateAll((ts) =>
    ts.map((t) => ({ datetime: t.dateTime, text: t.textContent, title: t.title })));
  // The same wording for times ahead, as the module exports it.
  out.ahead = await staff.evaluate(async () => {
    const { relativeTime } = await import("/assets/common.js");
    const now = Date.now();
    return [2 * 86_400_000 + 5_000, 86_400_000 + 5_000, 3 * 3_600_000 + 5_000, -5 * 60_000 - 5_000]
      .map((ms) => relativeTime(new Date(now + ms), now));
  });
  out.waiting = await staff.locator("tr.waiting").evaluateAll((rows) =>
    rows.map((r) => ({ customer: r.dataset.customer, text: r.querySelector(".waiting-note")?.textContent ?? "" })));

  out.filter = { all: await visibleCustomers(staff) };
  await staff.locator("#filter-customer").fill("fAb");
  out.filter.search = await visibleCustomers(staff);
  out.filter.status = await staff.locator("#filter-status").textContent();
  await staff.locator("#filter-customer").fill("");
  await staff.locator("#filter-state").selectOption("failed");
  out.filter.failed = await visibleCustomers(staff);
  await staff.locator("#filter-state").selectOption("waiting");
  out.filter.waiting = await visibleCustomers(staff);
  await staff.locator("#filter-state").selectOption("open");
  await staff.locator("#filter-customer").fill("north");
  out.filter.open_north = await visibleCustomers(staff);
  out.filter.reloaded = await staff.evaluate(() => performance.getEntriesByType("navigation").length);
  await staff.locator("#filter-state").selectOption("");
  await staff.locator("#filter-customer").fill("");
  out.filter.cleared = await visibleCustomers(staff);

  const copy = staff.locator('tr[data-customer="Fabrikam"] button.copy');
  await copy.click();
  // "Copied" shows for 1.5 s once the clipboard took the text.
  const label = await copy.filter({ hasText: "Copied" }).textContent({ timeout: 1_000 })
    .catch(() => copy.textContent());
  out.copy = {
    buttons: await staff.locator("table.requests button.copy:visible").count(),
    label,
    clipboard: await staff.evaluate(() => navigator.clipboard.readText()),
    expected: made.Fabrikam.customer,
  };

  // Confirmations, with the scripts on.
  await staff.goto(base + made.Northwind.page);
  out.cancel = await confirmTwice(staff, "#cancel-button");
  await customer.goto(receipt);
  out.withdraw = await confirmTwice(customer, "#withdraw-button");

  // A sender destroys a link before it is opened.
  await customer.goto(`${base}/`);
  for (const [name, value] of Object.entries(fields)) await customer.locator(`#${name}`).fill(value);
  await customer.locator("#create-button").click();
  await customer.locator("#result").waitFor({ state: "visible", timeout: 30_000 });
  await customer.goto(await customer.locator("#status-link").getAttribute("href"));
  out.destroy = await confirmTwice(customer, "#destroy-button");
  checkClean(log, "staff");
  checkClean(customerLog, "customer and sender");

  // Without JavaScript: the table is whole, times readable, cancel still asks.
  const plain = await browser.newContext({ viewport: LAPTOP, javaScriptEnabled: false });
  const page = await plain.newPage();
  await signIn(page);
  out.nojs = {
    rows: await visibleCustomers(page),
    filter_visible: await page.locator("#filter").isVisible(),
    copy_visible: await page.locator("button.copy:visible").count(),
    times: await page.locator("table.requests time").allTextContents(),
  };
  await page.goto(base + made.Fabrikam.page);
  out.nojs.cancel = await confirmTwice(page, "#cancel-button");
  check(out.times.length > 0, "no time on the dashboard");
  return out;
});
