// Files end to end in Chromium: the sender picks a large file and a small
// one, the page is reloaded in the middle of the upload, the sender resumes
// by picking the same files again (only the missing pieces are sent), the
// recipient (another browser context) reveals and saves both as downloads
// streamed through the service worker, and a third visitor finds them gone.
// Every page state is measured on a 390 px phone (no sideways scrolling) and
// scanned with axe-core (serious and critical findings), light and dark.
//
// Inputs:
//   HANDOFF_URL        server base
//   HANDOFF_BIG        path of the large file (its pieces are counted)
//   HANDOFF_SMALL      path of a small file
//   HANDOFF_MESSAGE    the message to send with them
// Output: {"pieces", "puts_before_reload", "puts_after_reload", "stored_before_reload",
//          "source": {name: sha256}, "saved": {name: sha256}, "names": [shown names],
//          "message", "gone_status", "pages": [{name, scheme, width, viewport, wide, axe}],
//          "csp": [violations], "upload_ms", "download_ms"}

import { createHash } from "node:crypto";
import { createReadStream, statSync } from "node:fs";
import { basename } from "node:path";

import { check, checkClean, env, run, watch } from "./lib.mjs";
import { measurer } from "./measure.mjs";

const base = env("HANDOFF_URL");
const big = env("HANDOFF_BIG");
const small = env("HANDOFF_SMALL");
const message = env("HANDOFF_MESSAGE");
const PHONE = { width: 390, height: 844 };
const PIECE = 4 * 1024 * 1024;
const pieces = [big, small].reduce((n, f) => n + Math.max(1, Math.ceil(statSync(f).size / PIECE)), 0);

const { measure, pages, csp } = measurer();

function sha256(path) {
  return new Promise((resolve, reject) => {
    const h = createHash("sha256");
    createReadStream(path).on("data", (d) => h.update(d)).on("end", () => resolve(h.digest("hex"))).on("error", reject);
  });
}

async function newPage(context) {
  const page = await context.newPage();
  const log = await watch(page);
  page.on("close", () => csp.push(...log.cspViolations));
  // Leaving while pieces go up asks first (beforeunload); the test means it.
  page.on("dialog", (d) => d.accept());
  return { page, log };
}

await run(async (browser) => {
  const out = { pieces };
  const source = {};
  for (const f of [big, small]) source[basename(f)] = await sha256(f);
  out.source = source;

  // The sender.
  const sender = await browser.newContext({ viewport: PHONE });
  const { page, log } = await newPage(sender);
  let puts = 0;
  let stored = 0;
  page.on("request", (r) => {
    if (r.method() === "PUT" && /\/pieces\/\d+$/.test(r.url())) puts += 1;
  });
  page.on("response", (r) => {
    if (r.request().method() === "PUT" && r.status() === 204) stored += 1;
  });
  await page.goto(`${base}/files`);
  await measure(page, "files: compose");
  await page.locator("#file-input").setInputFiles([big, small]);
  await page.locator("#message").fill(message);
  await measure(page, "files: chosen");

  const started = Date.now();
  await page.locator("#send-button").click();
  // Reload once a quarter of the pieces are stored, with more on the way.
  const quarter = Math.ceil(pieces / 4);
  for (let waited = 0; stored < quarter; waited += 50) {
    check(waited < 120_000, `only ${stored} pieces stored after two minutes`);
    check(!(await page.locator("#upload-error").isVisible()), `upload failed: ${await page.locator("#upload-error").textContent()}`);
    await page.waitForTimeout(50);
  }
  out.puts_before_reload = puts;
  out.stored_before_reload = stored;
  check(stored < pieces, `all ${pieces} pieces were stored before the reload could happen`);
  await page.reload();
  puts = 0;

  // The page offers to finish; the same files are picked again. The pieces'
  // PUTs are held until the page is measured while it uploads.
  await page.locator("#resume").waitFor({ state: "visible" });
  await measure(page, "files: resume");
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  await page.route(/\/pieces\/\d+$/, async (route) => {
    await held;
    await route.continue();
  });
  await page.locator("#resume-input").setInputFiles([big, small]);
  await page.locator("#upload").waitFor({ state: "visible" });
  await measure(page, "files: uploading");
  release();
  await page.locator("#files-result").waitFor({ state: "visible", timeout: 300_000 });
  out.upload_ms = Date.now() - started;
  out.puts_after_reload = puts;
  await measure(page, "files: link ready");
  const link = await page.locator("#files-link").inputValue();
  check(link.includes("/f/") && link.includes("#AGE-SECRET-KEY-1"), `not a file link: ${link}`);
  out.left_in_storage = await page.evaluate(() => Object.keys(localStorage));
  checkClean(log, "sender");
  await page.close();

  // The recipient.
  const recipient = await browser.newContext({ viewport: PHONE, acceptDownloads: true });
  const r = await newPage(recipient);
  await r.page.goto(link);
  await measure(r.page, "files: before reveal");
  await r.page.locator("#open-button").click();
  await r.page.locator("#files").waitFor({ state: "visible" });
  await measure(r.page, "files: list");
  out.names = await r.page.locator("#file-rows .file-name").allTextContents();
  out.message = await r.page.locator("#message").textContent();
  out.address_after_reveal = r.page.url();
  const saved = {};
  const downloadStart = Date.now();
  for (const name of out.names) {
    const [download] = await Promise.all([
      r.page.waitForEvent("download", { timeout: 60_000 }),
      r.page.getByRole("button", { name: `Save ${name}` }).click(),
    ]);
    const path = await download.path();
    check(!(await download.failure()), `the download of ${name} failed: ${await download.failure()}`);
    saved[download.suggestedFilename()] = await sha256(path);
  }
  await r.page.locator("#all-saved").waitFor({ state: "visible", timeout: 120_000 });
  out.download_ms = Date.now() - downloadStart;
  out.saved = saved;
  await measure(r.page, "files: all saved");
  out.left_in_session = await r.page.evaluate(() => Object.keys(sessionStorage));
  checkClean(r.log, "recipient");
  await r.page.close();

  // Anyone after that.
  const late = await browser.newContext({ viewport: PHONE });
  const l = await newPage(late);
  const res = await l.page.goto(link);
  out.gone_status = res.status();
  out.gone_heading = await l.page.locator("#gone h1").textContent();
  out.files_hidden = await l.page.locator("#files").isHidden();
  out.gone_address = l.page.url();
  await measure(l.page, "files: gone");
  checkClean(l.log, "late visitor");
  await l.page.close();

  out.pages = pages;
  out.csp = csp;
  return out;
});
