// The customer's request page: which clouds the form offers, and which az
// commands it shows as the customer picks each cloud in turn.
//
// Inputs:
//   HANDOFF_REQUEST_URL  the customer's link to a request
// Output: {"options": [cloud], "shown": {"initial": [cloud], <cloud>: [cloud]},
//          "scripts": {<cloud>: "<the visible az commands>"}}

import { checkClean, env, run, watch } from "./lib.mjs";

await run(async (browser) => {
  const page = await browser.newPage();
  const log = await watch(page);
  await page.goto(env("HANDOFF_REQUEST_URL"));
  await page.locator("#guide details summary").click();
  const options = await page.locator("#cloud option").evaluateAll((os) => os.map((o) => o.value));
  const visible = () =>
    page.locator("[data-az-cloud]").evaluateAll((blocks) => blocks.filter((b) => !b.hidden).map((b) => b.dataset.azCloud));
  const shown = { initial: await visible() };
  const scripts = {};
  // Last to first, so that every choice is a change from the one before.
  for (const cloud of [...options].reverse()) {
    await page.locator("#cloud").selectOption(cloud);
    shown[cloud] = await visible();
    scripts[cloud] = await page.locator(`[data-az-cloud="${cloud}"] pre`).innerText();
  }
  checkClean(log, "request page");
  return { options, shown, scripts };
});
