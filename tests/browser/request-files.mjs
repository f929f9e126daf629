// A files request in Chromium, as its people do it: staff create a request
// of the `files` template; the customer opens /r/{id}, is told plainly what
// is wrong with no file and with files over the server's limit, picks a
// large file and a folder, writes a message and sends; the page is reloaded
// in the middle of the upload (pieces held back so that it is), the
// customer picks the same files again, only the missing pieces go, and the
// page answers the request and shows the receipt. Then the PM retrieves the
// answer through the private link: the page lists the names, sizes and the
// message, a download broken by the network fails with Try again, a reload
// of the tab finds the files again (the copy is used up by then), and every
// file is saved byte for byte. Every page state is measured on a 390 px
// phone and scanned with axe, light and dark.
//
// Inputs:
//   HANDOFF_URL        server base (with a small --max-transfer-bytes)
//   HANDOFF_STAFF      staff user name;  HANDOFF_STAFF_PASSWORD its password
//   HANDOFF_CUSTOMER   the customer's label
//   HANDOFF_BIG        path of a file of several MiB
//   HANDOFF_FOLDER     path of a folder holding one small file
//   HANDOFF_TOO_BIG    path of a file over the server's limit
//   HANDOFF_MESSAGE    the message to send with the files
// Output: {"customer_link", "retrieval_link", "request_id", "pieces", "stored_before_reload",
//          "puts_after_reload", "errors": {...}, "still_missing", "answer": {...}, "left_in_storage",
//          "closed_after", "names", "sizes", "message", "broken": {...}, "saved": {name: sha256},
//          "source": {name: sha256}, "left_in_session", "second_try", "pages", "csp"}

import { createHash } from "node:crypto";
import { createReadStream, readdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";

import { check, checkClean, env, posts, run, watch } from "./lib.mjs";
import { measurer } from "./measure.mjs";

const base = env("HANDOFF_URL");
const big = env("HANDOFF_BIG");
const folder = env("HANDOFF_FOLDER");
const tooBig = env("HANDOFF_TOO_BIG");
const message = env("HANDOFF_MESSAGE");
const PHONE = { width: 390, height: 844 };
const PIECE = 4 * 1024 * 1024;
const inFolder = readdirSync(folder).map((n) => join(folder, n));
check(inFolder.length === 1, `${folder} holds ${inFolder.length} files, not one`);
const small = inFolder[0];
const pieces = [big, small].reduce((n, f) => n + Math.max(1, Math.ceil(statSync(f).size / PIECE)), 0);
/** Pieces let through before the rest are held back and the page is reloaded. */
const BEFORE_RELOAD = 2;

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

const step = (s) => console.error(`step: ${s}`);

await run(async (browser) => {
  const out = { pieces };
  out.source = { [basename(big)]: await sha256(big), [basename(small)]: await sha256(small) };

  // 1. Staff create a files request.
  const staffContext = await browser.newContext({ viewport: PHONE, acceptDownloads: true });
  const { page: staff, log: staffLog } = await newPage(staffContext);
  await staff.goto(`${base}/login`);
  await staff.locator("#name").fill(env("HANDOFF_STAFF"));
  await staff.locator("#password").fill(env("HANDOFF_STAFF_PASSWORD"));
  await Promise.all([staff.waitForURL(`${base}/staff`), staff.locator('button[type="submit"]').first().click()]);
  await staff.goto(`${base}/staff/requests/new`);
  await staff.locator("#customer").fill(env("HANDOFF_CUSTOMER"));
  await staff.locator("#template").selectOption("files");
  await staff.locator("#request-button").click();
  await staff.locator("#result").waitFor({ state: "visible" });
  out.customer_link = await staff.locator("#customer-link").inputValue();
  out.retrieval_link = await staff.locator("#retrieval-link").inputValue();
  out.request_id = new URL(out.customer_link).pathname.split("/").pop();
  checkClean(staffLog, "staff");

  // 2. The customer.
  step("customer");
  const customerContext = await browser.newContext({ viewport: PHONE });
  const { page, log } = await newPage(customerContext);
  let puts = 0;
  let stored = 0;
  page.on("request", (r) => {
    if (r.method() === "PUT" && /\/pieces\/\d+$/.test(r.url())) puts += 1;
  });
  page.on("response", (r) => {
    if (r.request().method() === "PUT" && r.status() === 204) stored += 1;
  });
  await page.goto(out.customer_link);
  check(await page.locator("#files-form").isVisible(), "the files request shows no file form");
  out.credential_form = await page.locator("#answer-form").count();
  await measure(page, "request files: compose");

  // Bad input: nothing chosen, then more than the server takes.
  out.errors = {};
  await page.locator("#send-button").click();
  await page.locator("#files-error").waitFor({ state: "visible" });
  out.errors.nothing = await page.locator("#files-error").textContent();
  await measure(page, "request files: nothing chosen");
  await page.locator("#file-input").setInputFiles([tooBig]);
  await page.locator("#send-button").click();
  await page.waitForFunction(() => /too large/.test(document.getElementById("files-error").textContent));
  out.errors.too_big = await page.locator("#files-error").textContent();
  out.errors.puts = puts;
  await measure(page, "request files: too large");
  await page.locator("#clear-files").click();

  await page.locator("#file-input").setInputFiles([big]);
  await page.locator("#folder-input").setInputFiles(folder);
  await page.locator("#message").fill(message);
  out.chosen = await page.locator("#file-list .file-name").allTextContents();
  await measure(page, "request files: chosen");

  // The first pieces go through; the rest are held, so that the reload
  // surely comes in the middle of the upload.
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  let allowed = BEFORE_RELOAD;
  await page.route(/\/pieces\/\d+$/, async (route) => {
    if (allowed > 0) {
      allowed -= 1;
      await route.continue();
      return;
    }
    await held;
    await route.abort("aborted").catch(() => {});
  });
  await page.locator("#send-button").click();
  for (let waited = 0; stored < BEFORE_RELOAD; waited += 50) {
    check(waited < 60_000, `only ${stored} pieces stored after a minute`);
    check(!(await page.locator("#upload-error").isVisible()), `upload failed: ${await page.locator("#upload-error").textContent()}`);
    await page.waitForTimeout(50);
  }
  await measure(page, "request files: uploading");
  out.stored_before_reload = stored;
  step("reload");
  await page.reload();
  release();
  await page.unrouteAll({ behavior: "ignoreErrors" });
  puts = 0;

  // The page offers to finish; the same files are picked again.
  await page.locator("#resume").waitFor({ state: "visible" });
  await measure(page, "request files: resume");
  await page.locator("#resume-input").setInputFiles([big]);
  await page.locator("#resume-error").waitFor({ state: "visible" });
  out.still_missing = await page.locator("#resume-error").textContent();
  await measure(page, "request files: resume, a file missing");
  await page.locator("#resume-folder-input").setInputFiles(folder);
  await page.locator("#result:not([hidden]), #upload-error:not([hidden])").first().waitFor({ state: "visible", timeout: 120_000 });
  check(!(await page.locator("#upload-error").isVisible()), `sending failed: ${await page.locator("#upload-error").textContent()}`);
  out.puts_after_reload = puts;
  await measure(page, "request files: sent");
  out.receipt_url = await page.locator("#receipt-link").inputValue();
  const answers = posts(log, /\/api\/v1\/requests\/[^/]+\/answer$/);
  check(answers.length === 1, `expected one answer POST, saw ${answers.length}`);
  const body = JSON.parse(answers[0].body);
  out.answer = {
    keys: Object.keys(body).sort(),
    transfer: body.transfer,
    plaintext: ["AGE-SECRET-KEY", message, basename(big), basename(small)].filter((s) => answers[0].body.includes(s)),
  };
  const created = posts(log, /^\/api\/v1\/transfers$/).map((r) => JSON.parse(r.body));
  out.transfers_created = created.map((c) => ({ request: c.request, expires_in: c.expires_in ?? null }));
  out.left_in_storage = await page.evaluate(() => Object.keys(localStorage));
  checkClean(log, "customer");
  // An upload kept for the request (as when the page was closed between the
  // answer and its own clean-up) goes when the closed page is opened.
  await page.evaluate((id) => localStorage.setItem(`handoff.request.files.${id}`, "{\"kept\":true}"), out.request_id);
  await page.goto(out.customer_link);
  out.closed_after = await page.locator("#request-closed").isVisible();
  await page.waitForFunction(() => localStorage.length === 0, undefined, { timeout: 5_000 }).catch(() => {});
  out.left_after_closed = await page.evaluate(() => Object.keys(localStorage));
  checkClean(log, "closed");
  await page.close();

  // 3. The PM.
  step("pm");
  const pm = await newPage(staffContext);
  await pm.page.goto(out.retrieval_link);
  await measure(pm.page, "retrieval files: ready");
  await pm.page.locator("#reveal-button").click();
  await pm.page.locator("#files").waitFor({ state: "visible" });
  check(await pm.page.locator("#revealed").isHidden(), "the payload's fields are shown");
  await measure(pm.page, "retrieval files: list");
  out.names = await pm.page.locator("#file-rows .file-name").allTextContents();
  out.sizes = await pm.page.locator("#file-rows .file-size").allTextContents();
  out.message = await pm.page.locator("#message").textContent();
  out.address_after_reveal = pm.page.url();

  // A download that the network breaks: Try again, within the grace.
  step("broken download");
  await pm.page.route(/\/files\/0\/pieces\/1$/, (route) => route.abort("connectionreset"));
  const first = pm.page.waitForEvent("download");
  await pm.page.getByRole("button", { name: `Save ${basename(big)}` }).click();
  await pm.page.locator("li.failed").waitFor({ state: "visible", timeout: 90_000 });
  out.broken = {
    failed_download: await (await first).failure(),
    status: await pm.page.locator("li.failed .file-status").textContent(),
    button: await pm.page.locator("li.failed button").textContent(),
  };
  await measure(pm.page, "retrieval files: download failed");
  await pm.page.unroute(/\/files\/0\/pieces\/1$/);
  step("pm reload");
  await pm.page.reload();
  await pm.page.locator("#files").waitFor({ state: "visible" });
  out.broken.reveal_shown_after_reload = await pm.page.locator("#reveal").isVisible();

  const saved = {};
  for (const name of out.names) {
    const [download] = await Promise.all([
      pm.page.waitForEvent("download", { timeout: 60_000 }),
      pm.page.getByRole("button", { name: `Save ${basename(name)}` }).click(),
    ]);
    check(!(await download.failure()), `the download of ${name} failed: ${await download.failure()}`);
    saved[download.suggestedFilename()] = await sha256(await download.path());
  }
  await pm.page.locator("#all-saved").waitFor({ state: "visible", timeout: 120_000 });
  out.saved = saved;
  await measure(pm.page, "retrieval files: all saved");
  out.left_in_session = await pm.page.evaluate(() => Object.keys(sessionStorage));
  checkClean(pm.log, "retrieval");
  await pm.page.close();

  // 4. A second retrieval finds nothing.
  const again = await newPage(staffContext);
  await again.page.goto(out.retrieval_link);
  out.second_try = (await again.page.locator("#reveal .lead").textContent()).trim();
  out.second_files_hidden = await again.page.locator("#files").isHidden();
  checkClean(again.log, "second retrieval");
  await again.page.close();

  out.pages = pages;
  out.csp = csp;
  return out;
});
