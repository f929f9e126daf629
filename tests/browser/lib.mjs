// Shared by the browser scripts that tests/browser.rs runs: launching the
// system Chromium through playwright-core, reading inputs from the
// environment, watching a page for requests and errors, and reporting.
//
// Contract with the Rust side: inputs come from HANDOFF_* environment
// variables; on success the last line of stdout is one JSON object; on failure
// the script prints "FAIL: <why>" on stderr and exits with status 1.

import { existsSync } from "node:fs";

let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch {
  fail("npm package playwright-core is missing: run `npm ci` in the repository root (or .ci/run)");
}

export const CHROMIUM = process.env.HANDOFF_CHROMIUM || "/usr/bin/chromium";

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** A required input. */
export function env(name) {
  const v = process.env[name];
  if (v === undefined || v === "") fail(`environment variable ${name} is not set`);
  return v;
}

export const optionalEnv = (name) => process.env[name] || undefined;

export async function launch(extraArgs = []) {
  if (!existsSync(CHROMIUM)) {
    fail(`Chromium is not installed at ${CHROMIUM}: run .ci/run, or \`apt-get install chromium\` (or set HANDOFF_CHROMIUM)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: [...ARGS, ...extraArgs], timeout: 30_000 });
}

/**
 * Records what a page does: every request (method, URL, body), console
 * errors, uncaught exceptions and Content-Security-Policy violations. The
 * violation listener is installed before any page script runs.
 */
export async function watch(page) {
  const log = { requests: [], consoleErrors: [], pageErrors: [], cspViolations: [] };
  page.on("request", (r) => log.requests.push({ method: r.method(), url: r.url(), body: r.postData() ?? null }));
  page.on("console", (m) => {
    if (m.type() === "error") log.consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => log.pageErrors.push(String(e?.stack ?? e)));
  await page.exposeFunction("__handoffCsp", (v) => log.cspViolations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__handoffCsp(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} in ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  page.setDefaultTimeout(20_000);
  return log;
}

export const posts = (log, pathPattern) =>
  log.requests.filter((r) => r.method === "POST" && pathPattern.test(new URL(r.url).pathname));

/** Fails when the page threw or broke its policy; most scripts call it at the end. */
export function checkClean(log, what) {
  check(log.pageErrors.length === 0, `${what}: uncaught exceptions in the page: ${log.pageErrors.join(" | ")}`);
  check(log.cspViolations.length === 0, `${what}: CSP violations: ${log.cspViolations.join(" | ")}`);
}

export const isVisible = (page, selector) => page.locator(selector).isVisible();

/**
 * Fills each step's values into the form (as `fill(page, values)` does) and
 * checks the finding under `field` then says `text`, marked `level`. Steps
 * come from HANDOFF_EXPECT_FINDINGS, a JSON list of {set, field, level, text}.
 */
export async function expectFindings(page, fill, steps) {
  for (const { set, field, level, text } of steps) {
    await fill(page, set);
    const finding = page.locator(`#${field}-finding`);
    try {
      await finding.waitFor({ state: "visible", timeout: 5_000 });
    } catch {
      throw new Error(`no finding for ${field} after entering ${JSON.stringify(set)}`);
    }
    const shown = await finding.textContent();
    check(shown.includes(text), `after ${JSON.stringify(set)} the ${field} finding says ${JSON.stringify(shown)}, not ${JSON.stringify(text)}`);
    check(await finding.evaluate((el, l) => el.classList.contains(l), level), `the ${field} finding is not marked ${level}: ${JSON.stringify(shown)}`);
    check(await page.locator(`#${field}`).getAttribute("aria-invalid") === null, `#${field} is marked invalid for a ${level}`);
  }
}

/** The text of the note under the revealed secret's expiry date, or null. */
export async function expiryNote(page) {
  const note = page.locator("#secret_expires_on-note");
  return (await note.count()) ? (await note.textContent()).trim() : null;
}

/** `link` as a mail gateway that rewrites the fragment's `#` to `%23` hands it on. */
export const escapeFragment = (link) => link.replace("#", "%23");

/** Fails unless the page moved the key from the path back into the fragment. */
export async function checkKeyMovedToFragment(page, link) {
  const address = await page.evaluate(() => location.href);
  const [path, key] = link.split("#");
  check(address === link, `the address bar shows ${address}, not ${link}`);
  check(!new URL(address).pathname.includes(key) && address.endsWith(`#${key}`) && new URL(address).pathname === new URL(path).pathname,
    `the key is not (only) in the fragment: ${address}`);
}

/** Runs `body(browser)` and reports its result as the last line of stdout. */
export async function run(body, extraArgs = []) {
  let browser;
  try {
    browser = await launch(extraArgs);
    const result = await body(browser);
    await browser.close();
    console.log(JSON.stringify(result ?? {}));
  } catch (e) {
    await browser?.close().catch(() => {});
    fail(e?.message ?? String(e));
  }
}

/**
 * Starts watching the page's frames: the longest pause between two painted
 * frames (a page busy on its own thread paints none) and whether the element
 * `progressId` was ever visible. frameReport() stops and returns
 * {max_gap_ms, elapsed_ms, saw_progress}.
 */
export async function watchFrames(page, progressId) {
  await page.evaluate((id) => {
    const f = { maxGap: 0, sawProgress: false, start: performance.now(), last: performance.now(), running: true };
    window.__handoffFrames = f;
    const tick = () => {
      const now = performance.now();
      f.maxGap = Math.max(f.maxGap, now - f.last);
      f.last = now;
      const el = document.getElementById(id);
      if (el && !el.hidden) f.sawProgress = true;
      if (f.running) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  }, progressId);
}

export async function frameReport(page) {
  return page.evaluate(() => {
    const f = window.__handoffFrames;
    f.running = false;
    return { max_gap_ms: Math.round(f.maxGap), elapsed_ms: Math.round(performance.now() - f.start), saw_progress: f.sawProgress };
  });
}
