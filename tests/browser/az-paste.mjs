// Pastes the JSON that `az ad app credential reset` prints into one Entra
// field and reads back what the page made of it.
//
// Inputs:
//   HANDOFF_URL       server base
//   HANDOFF_AZ_JSON   the az output, as printed (several lines)
//   HANDOFF_PASTE_INTO  the field to paste into (default client_secret)
// Output: {"fields": {tenant_id, client_id, client_secret}, "findings": {field: text}}

import { check, checkClean, env, optionalEnv, posts, run, watch } from "./lib.mjs";

const base = env("HANDOFF_URL");
const azJson = env("HANDOFF_AZ_JSON");
const target = optionalEnv("HANDOFF_PASTE_INTO") ?? "client_secret";

await run(async (browser) => {
  const page = await browser.newPage();
  const log = await watch(page);
  await page.goto(base + "/");
  await page.locator("#template-entra-app").check();
  // fill() fires the input event, as a paste does; a one-line input drops the
  // line breaks, as it does for a real paste.
  await page.locator(`#${target}`).fill(azJson);
  const fields = {};
  for (const name of ["tenant_id", "client_id", "client_secret"]) {
    fields[name] = await page.locator(`#${name}`).inputValue();
  }
  const findings = {};
  for (const name of ["tenant_id", "client_id", "client_secret"]) {
    findings[name] = (await page.locator(`#${name}-finding`).textContent()).trim();
  }
  check(posts(log, /^\/api\//).length === 0, "pasting sent a request");
  checkClean(log, "create page");
  return { fields, findings };
});
