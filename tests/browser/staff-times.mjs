// The times on the staff pages other than the dashboard (a request's page,
// credentials, tokens, account): what each <time> shows once the page's
// scripts ran, and what it shows on hover.
//
// Inputs:
//   HANDOFF_URL           server base
//   HANDOFF_STAFF         staff user name; HANDOFF_STAFF_PASSWORD its password
//   HANDOFF_REQUEST_ID    a request whose page has facts and a trail
// Output: {"<page>": [{"datetime", "text", "title"}]} for request, credentials,
//          tokens and account

import { check, checkClean, env, run, watch } from "./lib.mjs";

const base = env("HANDOFF_URL");

await run(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const log = await watch(page);
  await page.goto(`${base}/staff`);
  await page.locator("#name").fill(env("HANDOFF_STAFF"));
  await page.locator("#password").fill(env("HANDOFF_STAFF_PASSWORD"));
  await Promise.all([page.waitForURL(`${base}/staff`), page.locator("#login-button").click()]);
  await page.goto(`${base}/staff/tokens`);
  await page.locator("#token-name").fill("collector-1");
  await page.locator("#create-token").click();
  await page.locator("#new-token").waitFor();
  const out = {};
  for (const [name, path] of [
    ["request", `/staff/requests/${env("HANDOFF_REQUEST_ID")}`],
    ["credentials", "/staff/credentials"],
    ["tokens", "/staff/tokens"],
    ["account", "/staff/account"],
  ]) {
    const res = await page.goto(base + path);
    check(res.status() === 200, `${path} answered ${res.status()}`);
    out[name] = await page.locator("main time").evaluateAll((ts) =>
      ts.map((t) => ({ datetime: t.dateTime, text: t.textContent.trim(), title: t.title })));
  }
  checkClean(log, "staff pages");
  return out;
});
