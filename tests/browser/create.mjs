// Creates a secret through the create page, as an admin would, and prints the link.
//
// Inputs:
//   HANDOFF_URL          server base, e.g. http://127.0.0.1:8080
//   HANDOFF_TEMPLATE     entra-app | text
//   HANDOFF_FIELDS       JSON object of the template's fields ({"text": ...} or the Entra ones)
//   HANDOFF_NOTE         optional note
//   HANDOFF_PASSPHRASE   optional passphrase (typed twice)
//   HANDOFF_FIRST_TRY    optional JSON object of field values to submit first, which
//                        must be refused in the page without any request
//   HANDOFF_FIRST_TRY_FINDING  "<field>:<level>:<text the finding must contain>"
//   HANDOFF_EXPECT_FINDINGS optional JSON list of {set, field, level, text}: each
//                        step's values are entered and the finding under `field`
//                        must then say `text`, marked `level`; before the final fill
//   HANDOFF_EXPECT_ERROR optional: the create must fail, in the page, with a form
//                        error containing this text and without any upload
//   HANDOFF_SCREENSHOT   optional path prefix: saves <prefix>-form.png and <prefix>-result.png
// Output: {"link", "status_url", "upload": <the JSON body that was POSTed>,
//          "refused_first": bool, "console_errors": [...], "lock_frames":
//          {max_gap_ms, elapsed_ms, saw_progress} with a passphrase (from the click to the link)}

import {
  check, checkClean, env, expectFindings, frameReport, optionalEnv, posts, run, watch, watchFrames,
} from "./lib.mjs";

const base = env("HANDOFF_URL");
const template = env("HANDOFF_TEMPLATE");
const fields = JSON.parse(env("HANDOFF_FIELDS"));
const note = optionalEnv("HANDOFF_NOTE");
const passphrase = optionalEnv("HANDOFF_PASSPHRASE");
const firstTry = optionalEnv("HANDOFF_FIRST_TRY");
const firstTryFinding = optionalEnv("HANDOFF_FIRST_TRY_FINDING");
const screenshot = optionalEnv("HANDOFF_SCREENSHOT");
const expectError = optionalEnv("HANDOFF_EXPECT_ERROR");
const expectedFindings = JSON.parse(optionalEnv("HANDOFF_EXPECT_FINDINGS") ?? "[]");

async function fill(page, values) {
  for (const [name, value] of Object.entries(values)) {
    const el = page.locator(`#${name}`);
    if (name === "cloud") await el.selectOption(value);
    else await el.fill(value);
    await el.blur();
  }
}

await run(async (browser) => {
  const page = await browser.newPage();
  const log = await watch(page);
  await page.goto(base + "/");
  check(await page.locator("#insecure-banner").isHidden(), "the insecure-context banner is shown on the create page");
  check(await page.locator("#create-button").isEnabled(), "the create button is disabled");

  await page.locator(`#template-${template}`).check();
  check(await page.locator(`fieldset[data-template="${template}"]`).isVisible(), `the ${template} fields are not shown`);

  let refusedFirst = false;
  if (firstTry) {
    check(firstTryFinding, "HANDOFF_FIRST_TRY needs HANDOFF_FIRST_TRY_FINDING");
    const [field, level, ...rest] = firstTryFinding.split(":");
    const text = rest.join(":");
    await fill(page, { ...fields, ...JSON.parse(firstTry) });
    await page.locator("#create-button").click();
    const finding = page.locator(`#${field}-finding`);
    try {
      await finding.waitFor({ state: "visible", timeout: 5_000 });
    } catch {
      const shown = await page.locator(".finding:not(:empty)").allTextContents();
      throw new Error(`no finding for ${field} appeared after submitting; the page shows ${JSON.stringify(shown)}`);
    }
    const shown = await finding.textContent();
    check(shown.includes(text), `the ${field} finding says ${JSON.stringify(shown)}, not ${JSON.stringify(text)}`);
    check(await finding.evaluate((el, l) => el.classList.contains(l), level), `the ${field} finding is not marked ${level}`);
    check(await page.evaluate((f) => document.activeElement?.id === f, field), `focus did not move to #${field}`);
    // Give a stray upload time to show up before concluding there was none.
    await page.waitForTimeout(300);
    check(posts(log, /^\/api\/v1\/secrets$/).length === 0, "a secret was uploaded although the page showed an error");
    check(await page.locator("#result").isHidden(), "the result was shown although the page showed an error");
    refusedFirst = true;
    if (screenshot) await page.screenshot({ path: `${screenshot}-form.png`, fullPage: true });
  }

  await expectFindings(page, fill, expectedFindings);
  await fill(page, fields);
  if (note) await page.locator("#note").fill(note);
  if (passphrase) {
    await page.locator("#passphrase").fill(passphrase);
    await page.locator("#passphrase_confirm").fill(passphrase);
    if (!expectError) await watchFrames(page, "lock-progress");
  }
  await page.locator("#create-button").click();
  if (expectError) {
    const formError = page.locator("#form-error");
    await formError.waitFor({ state: "visible", timeout: 30_000 });
    const text = await formError.textContent();
    check(text.includes(expectError), `the form error says ${JSON.stringify(text)}, not ${JSON.stringify(expectError)}`);
    await page.waitForTimeout(300);
    const uploads = posts(log, /^\/api\/v1\/secrets$/).length;
    check(uploads === 0, `expected no upload, saw ${uploads}`);
    check(await page.locator("#result").isHidden(), "a link was shown although the create failed");
    check(await page.locator("#create-button").isEnabled(), "the create button stays disabled after the error");
    checkClean(log, "create page");
    return { form_error: text, uploads, console_errors: log.consoleErrors };
  }
  try {
    await page.locator("#result").waitFor({ state: "visible", timeout: 30_000 });
  } catch {
    const formError = await page.locator("#form-error").textContent();
    const findings = await page.locator(".finding.error").allTextContents();
    throw new Error(`no link was made; form error: ${JSON.stringify(formError)}; findings: ${JSON.stringify(findings)}`);
  }

  const lockFrames = passphrase ? await frameReport(page) : null;
  if (screenshot) await page.screenshot({ path: `${screenshot}-result.png`, fullPage: true });
  const link = await page.locator("#link").inputValue();
  const statusUrl = await page.locator("#status-link").getAttribute("href");
  check(link.includes("/s/") && link.includes("#"), `the link ${link} has no id or key`);
  check(await page.locator("#result-passphrase").isVisible() === Boolean(passphrase), "the passphrase reminder is wrong");
  check((await page.locator("#result-expires").textContent()).trim() !== "", "the expiry is not shown");
  const uploads = posts(log, /^\/api\/v1\/secrets$/);
  check(uploads.length === 1, `expected one upload, saw ${uploads.length}`);
  // Nothing typed may be left in the form once the link is shown.
  for (const name of Object.keys(fields)) {
    if (name === "cloud") continue;
    check((await page.locator(`#${name}`).inputValue()) === "", `#${name} still holds its value after creating`);
  }
  checkClean(log, "create page");
  return {
    link,
    status_url: statusUrl,
    upload: uploads[0].body,
    refused_first: refusedFirst,
    console_errors: log.consoleErrors,
    lock_frames: lockFrames,
  };
});
