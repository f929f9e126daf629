// One side of a file transfer in Chromium, for the CLI to do the other:
//   HANDOFF_MODE=send     picks HANDOFF_FILES (paths, separated by newlines) on
//                         /files and sends them; prints {"link"}
//   HANDOFF_MODE=receive  opens HANDOFF_LINK, reveals and saves every file with
//                         "Save all files"; prints {"saved": {download name: sha256},
//                         "names": [shown names]}
// Inputs: HANDOFF_URL (server base) and the above.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import { check, checkClean, env, run, watch } from "./lib.mjs";

const base = env("HANDOFF_URL");
const mode = env("HANDOFF_MODE");

await run(async (browser) => {
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const log = await watch(page);
  if (mode === "send") {
    await page.goto(`${base}/files`);
    await page.locator("#file-input").setInputFiles(env("HANDOFF_FILES").split("\n"));
    await page.locator("#send-button").click();
    await page.locator("#files-result").waitFor({ state: "visible", timeout: 120_000 });
    const link = await page.locator("#files-link").inputValue();
    checkClean(log, "send");
    return { link };
  }
  check(mode === "receive", `unknown HANDOFF_MODE ${mode}`);
  await page.goto(env("HANDOFF_LINK"));
  await page.locator("#open-button").click();
  await page.locator("#files").waitFor({ state: "visible" });
  const names = await page.locator("#file-rows .file-name").allTextContents();
  // "Save all files": one download after another, from one click.
  const downloads = [];
  page.on("download", (d) => downloads.push(d));
  await page.locator("#save-all").click();
  await page.locator("#all-saved").waitFor({ state: "visible", timeout: 60_000 });
  const saved = {};
  for (const d of downloads) {
    check(!(await d.failure()), `the download of ${d.suggestedFilename()} failed: ${await d.failure()}`);
    saved[d.suggestedFilename()] = createHash("sha256").update(readFileSync(await d.path())).digest("hex");
  }
  checkClean(log, "receive");
  return { names, saved };
});
