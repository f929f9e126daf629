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
