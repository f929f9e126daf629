// Walks every page with its scripts at work (create, the result, the
// interstitial, a passphrase reveal, the gone page, the status page, a 404)
// and fails on any Content-Security-Policy violation, console error or
// uncaught exception. The policy forbids inline script and style; a stray
// style="" or onclick= in a template or script shows up here.
//
// Inputs: HANDOFF_URL
// Output: {"pages": [{"name", "status", "console_errors", "csp"}]}

import { check, env, posts, run, watch } from "./lib.mjs";

const base = env("HANDOFF_URL");

// The browser logs a 404 document as a failed resource; on the pages that are
// meant to be 404 that line is expected, nothing else is.
const NOT_FOUND_LINE = /^Failed to load resource: the server responded with a status of 404/;

await run(async (browser) => {
  const pages = [];
  const visit = async (context, name, url, act, expectStatus = 200) => {
    const page = await context.newPage();
    const log = await watch(page);
    const response = await page.goto(url);
    await page.waitForLoadState("networkidle");
    const out = act ? await act(page, log) : undefined;
    await page.waitForTimeout(200);
    const errors = log.consoleErrors.filter((e) => !(expectStatus === 404 && NOT_FOUND_LINE.test(e)));
    const entry = {
      name, status: response.status(), console_errors: errors, csp: log.cspViolations, page_errors: log.pageErrors,
    };
    pages.push(entry);
    check(entry.status === expectStatus, `${name}: status ${entry.status}, expected ${expectStatus}`);
    check(entry.csp.length === 0, `${name}: CSP violations: ${entry.csp.join(" | ")}`);
    check(entry.console_errors.length === 0, `${name}: console errors: ${entry.console_errors.join(" | ")}`);
    check(entry.page_errors.length === 0, `${name}: uncaught exceptions: ${entry.page_errors.join(" | ")}`);
    await page.close();
    return out;
  };

  const sender = await browser.newContext();
  const created = await visit(sender, "create", base + "/", async (page, log) => {
    // Exercise the scripts: findings, template switch, passphrase, the result view.
    await page.locator("#tenant_id").fill("contoso");
    await page.locator("#tenant_id").blur();
    await page.locator("#tenant_id-finding.error").waitFor();
    await page.locator("#template-text").check();
    await page.locator("#text").fill("csp check");
    await page.locator("#passphrase").fill("correct horse battery");
    await page.locator("#passphrase_confirm").fill("correct horse battery");
    await page.locator("#create-button").click();
    await page.locator("#result").waitFor({ state: "visible", timeout: 30_000 });
    await page.locator('[data-copy="link"]').click();
    check(posts(log, /^\/api\/v1\/secrets$/).length === 1, "create: expected one upload");
    return { link: await page.locator("#link").inputValue(), status: await page.locator("#status-link").getAttribute("href") };
  });

  const recipient = await browser.newContext();
  await visit(recipient, "reveal", created.link, async (page) => {
    await page.locator("#passphrase").fill("wrong");
    await page.locator("#reveal-button").click();
    await page.locator("#reveal-error").waitFor({ state: "visible", timeout: 30_000 });
    await page.locator("#passphrase").fill("correct horse battery");
    await page.locator("#reveal-button").click();
    await page.locator("#revealed").waitFor({ state: "visible", timeout: 30_000 });
    await page.locator("#fields button.toggle").first().click();
  });
  await visit(recipient, "gone", created.link, null, 404);
  await visit(recipient, "missing key", created.link.split("#")[0], null, 404);
  await visit(sender, "status", created.status);
  await visit(sender, "not found", base + "/no/such/page", null, 404);
  return { pages };
});
