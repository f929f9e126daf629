// Every page state that senders, recipients, customers and staff reach, on a
// phone (390×844) and a laptop (1280×800), in light and in dark mode: how wide the page is (it must
// not scroll sideways) and what axe-core finds that is serious or critical.
// On the way it measures what a width cannot show: the checklist's boxes,
// the links that must look like buttons, and the `az` block a keyboard must
// reach and scroll.
//
// axe-core is injected with page.evaluate of its source, which DevTools runs
// outside the page's Content-Security-Policy; the product's policy is not
// relaxed and the context does not bypass it.
//
// Inputs:
//   HANDOFF_URL           server base
//   HANDOFF_STAFF         staff user name; HANDOFF_STAFF_PASSWORD its password
//   HANDOFF_EXPIRED_URL   the customer's link to a request that has expired
//   HANDOFF_FAILED_ID     a request whose collector's check failed
//   HANDOFF_FIELDS        JSON of valid Entra fields for the answers
// Output: {"pages": [{"name", "screen", "scheme", "width", "viewport", "wide": [selector],
//          "scrolling_tables": ["<table>: <its width> in <its box>"], "axe": ["<rule>: <targets>"]}], "checklist": {...}, "buttons": {...},
//          "az": {...}, "dashboard_laptop": {scroll_width, client_width, wrapped: [cell text]},
//          "csp": [violations]}

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

import { check, env, run, watch } from "./lib.mjs";

const base = env("HANDOFF_URL");
const fields = JSON.parse(env("HANDOFF_FIELDS"));
const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1280, height: 800 };

let axeSource;
try {
  axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
} catch {
  throw new Error("npm package axe-core is missing: run `npm ci` in the repository root (or .ci/run)");
}

const pages = [];
const csp = [];

/** Measures the page as it is now, on a phone then a laptop, light then dark. */
async function measure(page, name) {
  await page.waitForLoadState("networkidle");
  for (const [screen, size] of [["phone", PHONE], ["laptop", LAPTOP]]) {
    await page.setViewportSize(size);
    for (const scheme of ["light", "dark"]) await measureAs(page, name, screen, scheme);
  }
  await page.setViewportSize(PHONE);
  await page.emulateMedia({ colorScheme: "light" });
}

async function measureAs(page, name, screen, scheme) {
  await page.emulateMedia({ colorScheme: scheme });
  const { width, viewport, wide, scrolling_tables } = await page.evaluate(() => {
    const viewport = window.innerWidth;
    // A table box that scrolls sideways inside the page (allowed on a phone only).
    const scrolling_tables = [...document.querySelectorAll(".table-scroll")]
      .filter((box) => box.scrollWidth > box.clientWidth + 0.5)
      .map((box) => `${box.getAttribute("aria-label")}: ${box.scrollWidth} px in ${box.clientWidth} px`);
    // The outermost elements that reach past the right edge, to say what overflows.
    const wide = [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > viewport + 0.5)
      .slice(0, 200)
      .filter((el, _, all) => !all.some((other) => other !== el && other.contains(el)))
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}${el.className ? `.${String(el.className).split(" ").join(".")}` : ""}`);
    return { width: document.documentElement.scrollWidth, viewport, wide, scrolling_tables };
  });
  if (await page.evaluate(() => typeof window.axe === "undefined")) await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id}: ${v.nodes.slice(0, 4).map((n) => n.target.join(" ")).join(", ")}`);
  });
  pages.push({ name, screen, scheme, width, viewport, wide, scrolling_tables, axe: violations });
}

async function newPage(context) {
  const page = await context.newPage();
  const log = await watch(page);
  page.on("close", () => csp.push(...log.cspViolations));
  return page;
}

/** Compares a link's look with a button of the same classes placed beside it. */
async function buttonLook(page, selector) {
  return page.locator(selector).evaluate((link) => {
    const twin = document.createElement("button");
    twin.type = "button";
    twin.className = link.className.replace(/\bbutton\b/, "").trim();
    twin.textContent = link.textContent;
    link.after(twin);
    const props = ["display", "background-color", "color", "border-top-style", "border-top-width", "border-top-color",
      "border-radius", "padding-top", "padding-left", "font-size", "font-weight", "text-decoration-line"];
    const a = getComputedStyle(link);
    const b = getComputedStyle(twin);
    const differ = props.filter((p) => a.getPropertyValue(p) !== b.getPropertyValue(p))
      .map((p) => `${p}: ${a.getPropertyValue(p)} (a button: ${b.getPropertyValue(p)})`);
    const height = [link.getBoundingClientRect().height, twin.getBoundingClientRect().height].map(Math.round);
    twin.remove();
    return { tag: link.tagName.toLowerCase(), differ, height };
  });
}

async function fillAnswer(page) {
  for (const [name, value] of Object.entries(fields)) {
    const el = page.locator(`#${name}`);
    await el.fill(value);
    await el.blur();
  }
  for (const box of await page.locator('input[type="checkbox"][data-checklist]').all()) await box.check();
}

async function createRequest(staff, customer) {
  await staff.goto(`${base}/staff/requests/new`);
  await staff.locator("#customer").fill(customer);
  await staff.locator("#template").selectOption("o365-management");
  await staff.locator("#request-button").click();
  await staff.locator("#result").waitFor({ state: "visible" });
  return {
    customer: await staff.locator("#customer-link").inputValue(),
    retrieval: await staff.locator("#retrieval-link").inputValue(),
    page: await staff.locator("#request-page").getAttribute("href"),
  };
}

/** Answers a request as its customer; returns the receipt page's address. */
async function answer(page, link) {
  await page.goto(link);
  await fillAnswer(page);
  await page.locator("#answer-button").click();
  await page.locator("#result").waitFor({ state: "visible", timeout: 30_000 });
  return page.locator("#receipt-link").inputValue();
}

await run(async (browser) => {
  const out = {};
  const contextOf = () => browser.newContext({ viewport: PHONE });

  // Staff: sign in, create three requests, look at the dashboard.
  const staffContext = await contextOf();
  const staff = await newPage(staffContext);
  await staff.goto(`${base}/staff`);
  await measure(staff, "login");
  await staff.locator("#name").fill(env("HANDOFF_STAFF"));
  await staff.locator("#password").fill(env("HANDOFF_STAFF_PASSWORD"));
  await Promise.all([staff.waitForURL(`${base}/staff`), staff.locator("#login-button").click()]);
  await staff.goto(`${base}/staff/requests/new`);
  await measure(staff, "new request");
  const answered = await createRequest(staff, "Contoso Pharmaceuticals International");
  await measure(staff, "new request: created");
  const withdrawn = await createRequest(staff, "Fabrikam");
  const cancelled = await createRequest(staff, "Northwind Traders");

  // The customer: the open request with its guide and az block, then answers.
  const customerContext = await contextOf();
  const customer = await newPage(customerContext);
  await customer.goto(answered.customer);
  await customer.locator("#guide > details > summary").click();
  out.checklist = await customer.locator("#checklist").evaluate((fieldset) =>
    [...fieldset.querySelectorAll('input[type="checkbox"]')].map((box) => {
      const b = box.getBoundingClientRect();
      const label = box.closest("label").getBoundingClientRect();
      const line = Number.parseFloat(getComputedStyle(box.closest("label")).lineHeight);
      return {
        width: Math.round(b.width), left: Math.round(b.left), label_left: Math.round(label.left),
        // The box's middle lies on its label's first line.
        on_first_line: b.top + b.height / 2 >= label.top && b.top + b.height / 2 <= label.top + line,
        own_line: Math.round(label.left) === Math.round(fieldset.getBoundingClientRect().left),
      };
    }));
  // The az block: reached with the Tab key from its summary, scrolled with the arrow keys.
  const az = customer.locator("[data-az-cloud]:not([hidden]) pre.az").first();
  out.az = await az.evaluate((pre) => ({
    scrollable: pre.scrollWidth > pre.clientWidth,
    tabindex: pre.getAttribute("tabindex"),
    role: pre.getAttribute("role"),
    name: pre.getAttribute("aria-label") ?? "",
    inside: pre.getBoundingClientRect().right <= pre.parentElement.getBoundingClientRect().right + 0.5,
  }));
  await customer.locator("#guide > details > summary").focus();
  let tabs = 0;
  for (; tabs < 10; tabs++) {
    if (await az.evaluate((pre) => document.activeElement === pre)) break;
    await customer.keyboard.press("Tab");
  }
  out.az.reached_by_tab = await az.evaluate((pre) => document.activeElement === pre);
  await customer.keyboard.press("ArrowRight");
  await customer.keyboard.press("ArrowRight");
  // Key scrolling is smooth: give it time to move.
  out.az.scrolled_by_keys = await az.elementHandle()
    .then((pre) => customer.waitForFunction((el) => el.scrollLeft > 0, pre, { timeout: 3_000 }))
    .then(() => true, () => false);
  await measure(customer, "request: open");
  await customer.locator("#tenant_id").fill("contoso");
  await customer.locator("#client_secret").fill("3f2c1b9e-0000-4000-8000-123456789abc");
  await customer.locator("#answer-button").click();
  await customer.locator("#client_secret-finding.error").waitFor();
  await measure(customer, "request: findings");
  const receipt = await answer(customer, answered.customer);
  await measure(customer, "request: sent");
  await customer.goto(receipt);
  await measure(customer, "receipt: answered");
  await customer.goto(answered.customer);
  await measure(customer, "request: answered");

  const withdrawnReceipt = await answer(customer, withdrawn.customer);
  await customer.goto(withdrawnReceipt);
  await customer.locator("#withdraw-button").click();
  await customer.locator("#confirm-button").waitFor();
  await measure(customer, "receipt: confirm withdraw");
  await customer.locator("#confirm-button").click();
  await customer.locator("#request-status").waitFor();
  await measure(customer, "receipt: withdrawn");
  await customer.goto(withdrawn.customer);
  await measure(customer, "request: withdrawn");
  await customer.goto(env("HANDOFF_EXPIRED_URL"));
  await measure(customer, "request: expired");

  // Staff again: the dashboard with its rows, a request's page, a cancel.
  await staff.goto(`${base}/staff`);
  await measure(staff, "dashboard");
  // On a laptop the table fits as a table: no sideways scrolling, and the
  // times and who made it each on one line; the customer, the integration's
  // title and a waiting note (a line of its own) may wrap.
  await staff.setViewportSize(LAPTOP);
  out.dashboard_laptop = await staff.locator("#dashboard .table-scroll").evaluate((box) => {
    const wrapped = [...box.querySelectorAll("tbody td:nth-child(n+4)")]
      .filter((td) => {
        // The cell's own content, not the row's height it is stretched to.
        const line = Number.parseFloat(getComputedStyle(td).lineHeight) || 24;
        const range = document.createRange();
        range.selectNodeContents(td);
        return range.getBoundingClientRect().height > line * 1.5;
      })
      .map((td) => td.textContent.trim().replace(/\s+/g, " ").slice(0, 40));
    return { scroll_width: box.scrollWidth, client_width: box.clientWidth, wrapped };
  });
  await staff.setViewportSize(PHONE);
  out.buttons = { new_request: await buttonLook(staff, "#dashboard a.button") };
  await staff.locator("#filter-state").selectOption("open");
  await staff.locator("#filter-customer").fill("north");
  await measure(staff, "dashboard: filtered");
  const failed = env("HANDOFF_FAILED_ID");
  await staff.goto(`${base}/staff/requests/${failed}`);
  await measure(staff, "staff request: failed");
  await staff.goto(`${base}/staff/requests/new?reissue=${failed}`);
  await measure(staff, "new request: re-issue of a failed one");
  await staff.locator("#request-button").click();
  await staff.locator("#result").waitFor({ state: "visible" });
  await staff.goto(base + await staff.locator("#request-page").getAttribute("href"));
  await measure(staff, "staff request: re-issued");
  await staff.goto(base + answered.page);
  await measure(staff, "staff request: answered");
  await staff.goto(`${base}/staff/tokens`);
  await staff.locator("#token-name").fill("collector-1");
  await staff.locator("#create-token").click();
  await staff.locator("#new-token").waitFor();
  await measure(staff, "tokens");
  await staff.goto(`${base}/staff/account`);
  await measure(staff, "account");
  await staff.goto(base + cancelled.page);
  await measure(staff, "staff request: open");
  out.buttons.reissue = await buttonLook(staff, ".actions a.button");
  out.buttons.reissue.cancel_height = Math.round((await staff.locator("#cancel-button").boundingBox()).height);
  await staff.goto(cancelled.retrieval);
  await measure(staff, "retrieval: waiting");
  await staff.goto(base + cancelled.page);
  await staff.locator("#cancel-button").click();
  await staff.locator("#confirm-button").waitFor();
  await measure(staff, "staff request: confirm cancel");
  await staff.locator("#confirm-button").click();
  await staff.locator("#request").waitFor();
  await measure(staff, "staff request: cancelled");
  await customer.goto(cancelled.customer);
  await measure(customer, "request: cancelled");

  // The PM retrieves the answer once.
  const pm = await newPage(staffContext);
  await pm.goto(answered.retrieval);
  await measure(pm, "retrieval: ready");
  const noted = pm.waitForResponse((r) => r.url().endsWith("/credential"), { timeout: 10_000 });
  await pm.locator("#reveal-button").click();
  await pm.locator("#revealed").waitFor({ state: "visible" });
  await measure(pm, "retrieval: revealed");
  // The register, with the credential the retrieval page reported.
  await noted;
  await staff.goto(`${base}/staff/credentials`);
  await staff.locator("tr[data-standing]").first().waitFor();
  await measure(staff, "credentials");

  // The public page: a sender makes a link, a recipient opens it.
  const senderContext = await contextOf();
  const sender = await newPage(senderContext);
  await sender.goto(`${base}/`);
  await measure(sender, "public: compose");
  await sender.locator("#tenant_id").fill("contoso");
  await sender.locator("#client_secret").fill("3f2c1b9e-0000-4000-8000-123456789abc");
  await sender.locator("#create-button").click();
  await sender.locator("#client_secret-finding.error").waitFor();
  await measure(sender, "public: findings");
  for (const [name, value] of Object.entries(fields)) await sender.locator(`#${name}`).fill(value);
  await sender.locator("#note").fill("For the collector");
  await sender.locator("#create-button").click();
  await sender.locator("#result").waitFor({ state: "visible", timeout: 30_000 });
  await measure(sender, "public: link ready");
  const link = await sender.locator("#link").inputValue();
  const status = await sender.locator("#status-link").getAttribute("href");
  await sender.goto(status);
  await measure(sender, "status: waiting");
  await sender.locator("#destroy-button").click();
  await sender.locator("#confirm-button").waitFor();
  await measure(sender, "status: confirm destroy");
  await sender.locator("#confirm-back").click();
  await sender.locator("#status").waitFor();

  const recipient = await newPage(await contextOf());
  await recipient.goto(link);
  await measure(recipient, "secret: before reveal");
  await recipient.locator("#reveal-button").click();
  await recipient.locator("#revealed").waitFor({ state: "visible", timeout: 30_000 });
  await measure(recipient, "secret: revealed");
  await recipient.goto(link);
  await measure(recipient, "secret: gone");
  await sender.goto(status);
  await measure(sender, "status: read");
  await sender.goto(`${base}/no/such/page`);
  await measure(sender, "not found");

  for (const page of [staff, customer, pm, sender, recipient]) await page.close();
  check(pages.length > 0, "no page was measured");
  return { pages, ...out, csp };
});
