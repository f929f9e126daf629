// The customer's request page: which clouds the form offers, and which az
// commands it shows as the customer picks each cloud in turn.
//
// Inputs:
//   HANDOFF_REQUEST_URL  the customer's link to a request
// Output: {"options": [cloud], "shown": {"initial": [cloud], <cloud>: [cloud]},
//          "scripts": {<cloud>: "<the visible az commands>"},
//          "powershell": {<cloud>: "<the PowerShell commands, once opened>"},
//          "copy": {"label", "same": the clipboard holds the visible commands},
//          "copy_powershell": {"hidden_before_opening", "same"},
//          "show": {"before", "shown", "hidden": {"type", "label", "pressed"}, "value"}}

import { checkClean, env, run, watch } from "./lib.mjs";

await run(async (browser) => {
  const page = await browser.newPage();
  const log = await watch(page);
  await page.goto(env("HANDOFF_REQUEST_URL"));
  await page.locator("#guide > details > summary").click();
  const options = await page.locator("#cloud option").evaluateAll((os) => os.map((o) => o.value));
  const visible = () =>
    page.locator("[data-az-cloud]").evaluateAll((blocks) => blocks.filter((b) => !b.hidden).map((b) => b.dataset.azCloud));
  const shown = { initial: await visible() };
  const scripts = {};
  const powershell = {};
  // Last to first, so that every choice is a change from the one before.
  for (const cloud of [...options].reverse()) {
    await page.locator("#cloud").selectOption(cloud);
    shown[cloud] = await visible();
    scripts[cloud] = await page.locator(`#az-${cloud}`).innerText();
    // PowerShell sits folded under the Bash commands: opened, it shows its own.
    await page.locator(`[data-az-cloud="${cloud}"] details.az-shell summary`).click();
    powershell[cloud] = await page.locator(`#az-powershell-${cloud}`).innerText();
  }
  // The visible block's Copy button copies exactly its commands.
  const origin = new URL(env("HANDOFF_REQUEST_URL")).origin;
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  const last = options[0];
  const copyButton = page.locator(`[data-az-cloud="${last}"] button[data-copy-text-from="az-${last}"]`);
  // The label says "Copied" for 1.5 s: record it as it changes rather than
  // read it afterwards, which a busy machine may do too late.
  await copyButton.evaluate((b) => {
    window.labels = [];
    new MutationObserver(() => window.labels.push(b.textContent.trim()))
      .observe(b, { childList: true, characterData: true, subtree: true });
  });
  await copyButton.click();
  await page.waitForFunction(() => window.labels.length > 0);
  const label = await page.evaluate(() => window.labels[0]);
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  const copy = { label, same: copied === scripts[last] };
  const psButton = page.locator(`button[data-copy-text-from="az-powershell-${last}"]`);
  await psButton.click();
  await page.waitForFunction((want) => navigator.clipboard.readText().then((t) => t === want), powershell[last], { timeout: 5_000 })
    .catch(() => {});
  const copy_powershell = { same: (await page.evaluate(() => navigator.clipboard.readText())) === powershell[last] };

  // The Show button beside the client secret shows and hides what was pasted.
  const secret = page.locator("#client_secret");
  const showButton = page.locator('button[data-shows="client_secret"]');
  await secret.fill("Abc8Q~pastedValue");
  const state = async () => ({
    type: await secret.getAttribute("type"),
    label: (await showButton.textContent()).trim(),
    pressed: await showButton.getAttribute("aria-pressed"),
  });
  const show = { before: await state() };
  await showButton.click();
  show.shown = await state();
  show.value = await secret.inputValue();
  await showButton.click();
  show.hidden = await state();
  checkClean(log, "request page");
  return { options, shown, scripts, powershell, copy, copy_powershell, show };
});
