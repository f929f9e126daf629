// Opens the pages at HANDOFF_URL and checks what they say about the secure
// context WebCrypto needs. With HANDOFF_HOST_RULES (a Chromium
// --host-resolver-rules value) a made-up host name can point at the local
// server, which makes it plain HTTP on a "remote" host.
//
// Inputs:
//   HANDOFF_URL          base to open, e.g. http://handoff.test:8080
//   HANDOFF_HOST_RULES   optional, e.g. "MAP handoff.test 127.0.0.1"
//   HANDOFF_EXPECT_SECURE  "1" or "0"
//   HANDOFF_SECRET_PATH  optional "/s/{id}#key" to open as well
// Output: {"secure_context", "create": {banner, button_disabled}, "reveal": {...}}

import { check, checkClean, env, optionalEnv, posts, run, watch } from "./lib.mjs";

const base = env("HANDOFF_URL");
const hostRules = optionalEnv("HANDOFF_HOST_RULES");
const expectSecure = env("HANDOFF_EXPECT_SECURE") === "1";
const secretPath = optionalEnv("HANDOFF_SECRET_PATH");

const args = hostRules ? [`--host-resolver-rules=${hostRules}`] : [];

await run(async (browser) => {
  const page = await browser.newPage();
  const log = await watch(page);
  await page.goto(base + "/");
  // Module scripts run after parsing; wait until ours has had its say.
  await page.waitForLoadState("networkidle");
  const result = { secure_context: await page.evaluate(() => window.isSecureContext) };
  result.create = {
    banner: await page.locator("#insecure-banner").isVisible(),
    banner_text: (await page.locator("#insecure-banner").textContent()).replace(/\s+/g, " ").trim(),
    button_disabled: await page.locator("#create-button").isDisabled(),
  };
  check(result.secure_context === expectSecure, `isSecureContext is ${result.secure_context}`);
  check(result.create.banner === !expectSecure, `the create page's banner visible: ${result.create.banner}`);
  check(result.create.button_disabled === !expectSecure, `the create button disabled: ${result.create.button_disabled}`);
  if (!expectSecure) {
    // Trying anyway must not send anything.
    await page.locator("#text").fill("x", { force: true }).catch(() => {});
    await page.locator("#create-button").click({ force: true }).catch(() => {});
    await page.waitForTimeout(300);
    check(posts(log, /^\/api\//).length === 0, "the insecure page sent a request");
  }
  if (secretPath) {
    await page.goto(base + secretPath);
    await page.waitForLoadState("networkidle");
    result.reveal = {
      banner: await page.locator("#insecure-banner").isVisible(),
      button_disabled: await page.locator("#reveal-button").isDisabled(),
    };
    check(result.reveal.banner === !expectSecure, `the reveal page's banner visible: ${result.reveal.banner}`);
    check(result.reveal.button_disabled === !expectSecure, `the reveal button disabled: ${result.reveal.button_disabled}`);
    if (!expectSecure) {
      await page.locator("#reveal-button").click({ force: true }).catch(() => {});
      await page.waitForTimeout(300);
      check(posts(log, /\/reveal$/).length === 0, "the insecure page sent the reveal request");
    }
  }
  checkClean(log, "insecure check");
  return result;
}, args);
