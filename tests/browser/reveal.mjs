// Opens a link in a fresh browser, as its recipient would.
//
// Inputs:
//   HANDOFF_LINK               the whole link, with its key after '#'
//   HANDOFF_EXPECT             what must happen:
//     revealed          click Reveal (after the passphrase, if any) and read the fields
//     wrong-passphrase  type HANDOFF_WRONG_PASSPHRASE, click Reveal, and check it is
//                       refused in the page without any reveal request; stop there
//     interstitial      load the page and wait, clicking nothing (a link preview)
//     gone              the server says the link is gone
//     missing-key       the page says the key is missing and offers no Reveal
//   HANDOFF_PASSPHRASE         for locked links (revealed)
//   HANDOFF_WRONG_PASSPHRASE   tried first when set (revealed, wrong-passphrase)
//   HANDOFF_EXPECT_ADDRESS     optional: the address the page must show once loaded (for a
//                              link whose '#' a mail gateway rewrote to %23: the intact link)
//   HANDOFF_SCREENSHOT         optional path prefix: saves <prefix>-page.png (as loaded)
//                              and <prefix>-revealed.png
// Output: {"fields": {name: value}, "expiry_note": text or null, "reveal_posts": n,
//          "hash_after": "...", "gone_after_reload": bool, "console_errors": [...],
//          "unlock_frames": {max_gap_ms, elapsed_ms, saw_progress} for a passphrase
//          (the longest pause between painted frames from the click to the reveal)}

import {
  check, checkClean, checkKeyMovedToFragment, env, expiryNote, frameReport, optionalEnv, posts, run, watch, watchFrames,
} from "./lib.mjs";

const link = env("HANDOFF_LINK");
const expect = env("HANDOFF_EXPECT");
const passphrase = optionalEnv("HANDOFF_PASSPHRASE");
const wrongPassphrase = optionalEnv("HANDOFF_WRONG_PASSPHRASE");
const screenshot = optionalEnv("HANDOFF_SCREENSHOT");
const expectAddress = optionalEnv("HANDOFF_EXPECT_ADDRESS");

const REVEAL = /^\/api\/v1\/secrets\/[^/]+\/reveal$/;

await run(async (browser) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  const log = await watch(page);
  const response = await page.goto(link);
  if (screenshot) await page.screenshot({ path: `${screenshot}-page.png`, fullPage: true });
  const result = { fields: {}, expiry_note: null, reveal_posts: 0, hash_after: null, gone_after_reload: false, console_errors: [] };
  if (expectAddress) await checkKeyMovedToFragment(page, expectAddress);

  if (expect === "gone") {
    check(response.status() === 404, `the page answered ${response.status()}, not 404`);
    check(await page.locator("#gone").isVisible(), "the gone page is not shown");
    check(await page.locator("#reveal-button").count() === 0, "a gone link still offers a Reveal button");
    const address = await page.evaluate(() => location.href);
    check(!address.includes("#") && !/%23/i.test(address), `a gone link leaves its key in the address bar: ${address}`);
  } else if (expect === "missing-key") {
    check(await page.locator("#missing-key").isVisible(), "the missing-key message is not shown");
    check(await page.locator("#reveal-form").isHidden(), "the reveal form is still offered without a key");
  } else {
    check(response.status() === 200, `the page answered ${response.status()}`);
    // The interstitial: what is waiting, a Reveal button, nothing revealed yet.
    check(await page.locator("#reveal").isVisible(), "the interstitial is not shown");
    check(await page.locator("#reveal-button").isVisible(), "there is no Reveal button");
    check(await page.locator("#revealed").isHidden(), "something was revealed before the click");
    check(await page.locator("#missing-key").isHidden(), "the page says the key is missing");
    check(await page.locator("#insecure-banner").isHidden(), "the insecure-context banner is shown");

    if (expect === "interstitial") {
      await page.waitForLoadState("networkidle");
      await page.waitForTimeout(500);
    }

    if (wrongPassphrase) {
      await page.locator("#passphrase").fill(wrongPassphrase);
      await page.locator("#reveal-button").click();
      const error = page.locator("#reveal-error");
      await error.waitFor({ state: "visible", timeout: 30_000 });
      const text = await error.textContent();
      check(/passphrase is not right/i.test(text), `a wrong passphrase gave ${JSON.stringify(text)}`);
      check(posts(log, REVEAL).length === 0, "a wrong passphrase sent the reveal request");
      check(await page.locator("#revealed").isHidden(), "a wrong passphrase revealed something");
      check(await page.evaluate(() => location.href) === (expectAddress ?? link), "the link in the address bar changed after a wrong passphrase");
    }

    if (expect === "revealed") {
      if (passphrase) {
        await page.locator("#passphrase").fill(passphrase);
        await watchFrames(page, "unlock-progress");
      }
      await page.locator("#reveal-button").click();
      try {
        await page.locator("#revealed").waitFor({ state: "visible", timeout: 30_000 });
      } catch {
        throw new Error(`nothing was revealed; the page says ${JSON.stringify(await page.locator("#reveal-error").textContent())}`);
      }
      if (passphrase) {
        result.unlock_frames = await frameReport(page);
        check(await page.locator("#unlock-progress").isHidden(), "the unlock progress bar is still shown after the reveal");
      }
      for (const el of await page.locator("[id^='out-']").all()) {
        const id = await el.getAttribute("id");
        result.fields[id.slice("out-".length)] = await el.inputValue();
      }
      result.expiry_note = await expiryNote(page);
      if (screenshot) await page.screenshot({ path: `${screenshot}-revealed.png`, fullPage: true });
      result.hash_after = await page.evaluate(() => location.hash);
      check(result.hash_after === "", `the key is still in the address bar: ${result.hash_after}`);
      // Copy buttons work: the first one confirms.
      const copy = page.locator("#fields button.copy").first();
      await copy.click();
      await page.locator("#fields button.copy.done").first().waitFor({ timeout: 5_000 });

      await page.reload();
      result.gone_after_reload = await page.locator("#gone").isVisible();
      check(result.gone_after_reload, "reloading after the reveal did not show the gone page");
    } else if (expect !== "wrong-passphrase" && expect !== "interstitial") {
      throw new Error(`unknown HANDOFF_EXPECT ${expect}`);
    }
  }
  result.reveal_posts = posts(log, REVEAL).length;
  if (expect !== "revealed") check(result.reveal_posts === 0, `${expect}: the reveal request was sent`);
  else check(result.reveal_posts === 1, `expected one reveal request, saw ${result.reveal_posts}`);
  checkClean(log, "reveal page");
  result.console_errors = log.consoleErrors;
  return result;
});
