// One side of a file transfer in Chromium, for the CLI to do the other:
//   HANDOFF_MODE=send     picks HANDOFF_FILES (paths, separated by newlines) on
//                         /files and sends them; prints {"link"}
//   HANDOFF_MODE=receive  opens HANDOFF_LINK, reveals and saves every file with
//                         "Save all files"; prints {"saved": {download name: sha256},
//                         "names": [shown names]}
//   HANDOFF_MODE=folder   opens HANDOFF_LINK, reveals and saves every file with
//                         "Save into a folder" (the File System Access API; the
//                         folder picker answers with the origin-private file
//                         system's root, where HANDOFF_EXISTING, a name, is
//                         written first); prints {"folder": {path: sha256},
//                         "statuses": [each file's line once saved]}
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
  if (mode === "folder") {
    // The one part not under test: the native folder picker, which no
    // automation can click. It answers with a real directory handle, the
    // origin-private file system's root, that the page writes into as it
    // would into a folder on disk.
    await page.addInitScript(() => {
      window.showDirectoryPicker = async () => navigator.storage.getDirectory();
    });
    await page.goto(env("HANDOFF_LINK"));
    const existing = env("HANDOFF_EXISTING");
    await page.evaluate(async (name) => {
      const root = await navigator.storage.getDirectory();
      const w = await (await root.getFileHandle(name, { create: true })).createWritable();
      await w.write("kept as it was");
      await w.close();
    }, existing);
    await page.locator("#open-button").click();
    await page.locator("#files").waitFor({ state: "visible" });
    check(await page.locator("#save-folder-hint").isVisible(), "no hint beside Save into a folder");
    await page.locator("#save-folder").click();
    await page.locator("#all-saved").waitFor({ state: "visible", timeout: 60_000 });
    const folder = await page.evaluate(async () => {
      const out = {};
      const walk = async (dir, prefix) => {
        for await (const [name, handle] of dir.entries()) {
          if (handle.kind === "directory") await walk(handle, `${prefix}${name}/`);
          else {
            const bytes = await (await handle.getFile()).arrayBuffer();
            const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
            out[`${prefix}${name}`] = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
          }
        }
      };
      await walk(await navigator.storage.getDirectory(), "");
      return out;
    });
    const statuses = await page.locator("#file-rows .file-status").allTextContents();
    checkClean(log, "folder");
    return { folder, statuses };
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
