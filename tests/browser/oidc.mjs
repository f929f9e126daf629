// Staff sign-in through the identity provider, as a person does it: open the
// sign-in page, press "Sign in with ...", press "Continue" on the provider's
// screen (the test's stand-in, on another site: localhost, while handoff is
// at 127.0.0.1) and land on the dashboard.
//
// Inputs:
//   HANDOFF_URL        server base
//   HANDOFF_IDP_NAME   the provider's display name on the button
// Output: {"button", "landed", "dashboard", "passed_idp"}

import { check, checkClean, env, run, watch } from "./lib.mjs";

const base = env("HANDOFF_URL");
const idpName = env("HANDOFF_IDP_NAME");

await run(async (browser) => {
  const page = await browser.newPage();
  const log = await watch(page);
  const hosts = [];
  page.on("request", (r) => hosts.push(new URL(r.url()).host));
  await page.goto(`${base}/staff`);
  // Signed out, the dashboard sends the browser to the sign-in page.
  check(page.url().startsWith(`${base}/login`), `signed out, /staff leads to the sign-in page, not ${page.url()}`);
  const button = page.locator("#oidc-button");
  const out = { button: (await button.textContent()).trim() };
  check(out.button === `Sign in with ${idpName}`, `the button says ${out.button}`);
  // The provider's screen, on its own site: continuing from there makes
  // the way back a navigation another site started, as with Entra ID.
  await Promise.all([page.waitForURL((u) => u.host.startsWith("localhost:")), button.click()]);
  await Promise.all([page.waitForURL(`${base}/staff`, { timeout: 15_000 }), page.locator("#idp-continue").click()]);
  out.landed = page.url();
  out.dashboard = await page.locator("section#dashboard").isVisible();
  out.passed_idp = hosts.some((h) => h.startsWith("localhost:"));
  check(out.dashboard, "the dashboard is shown");
  check(out.passed_idp, "the browser went through the provider");
  checkClean(log, "the sign-in");
  return out;
});
