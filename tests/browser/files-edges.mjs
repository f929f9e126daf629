// Files at their edges, in Chromium:
// - a transfer whose list holds unsafe names (made here with npm
//   age-encryption, as another client could): those files are refused with a
//   message, the safe one is saved, in a browser without service workers
//   (the in-memory fallback);
// - a download that breaks is finished within the grace time by the same
//   browser tab, after a reload, without revealing again;
// - a file whose two equal-length pieces arrive in each other's place (as a
//   server that reorders them would hand them out) is refused, not saved;
// - the sender's page shows the server's refusal of files over its limit,
//   and refuses names that would clash in one folder;
// - an upload resumed after a reload maps each re-picked file to its own
//   path: two files of one name, size and time in two folders each arrive
//   with their own contents.
// Each new page state is measured on a 390 px phone and scanned with axe.
//
// Inputs:
//   HANDOFF_URL     server base (started with a small --max-transfer-bytes)
//   HANDOFF_TOO_BIG path of a file over that limit (once encrypted)
//   HANDOFF_TWINS   path of a folder holding a/config.json and b/config.json
//                   (same size and time, other contents)
// Output: {"refused": {...}, "retry": {...}, "reordered": {...}, "too_big": {...},
//          "clash": {...}, "twins": {...}, "pages": [...], "csp": [...]}

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import { bech32 } from "@scure/base";
import { Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";

import { MANIFEST_VERSION, pieceIdentity } from "../../static/js/files-format.js";

import { check, checkClean, env, run, watch } from "./lib.mjs";
import { measurer } from "./measure.mjs";

const base = env("HANDOFF_URL");
const tooBig = env("HANDOFF_TOO_BIG");
const twins = env("HANDOFF_TWINS");
const PHONE = { width: 390, height: 844 };
const PIECE = 4 * 1024 * 1024;

const { measure, pages, csp } = measurer();

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

async function api(method, path, { token, json, bytes } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (bytes) {
    headers["Content-Type"] = "application/octet-stream";
    body = bytes;
  }
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  check(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/**
 * Sends `files` ([{name, bytes}]) as another client would; returns the link.
 * With `swapFirstTwo`, the first file's pieces 0 and 1 are uploaded in each
 * other's place: what a server that reorders them would hand out.
 */
async function send(files, message, { swapFirstTwo = false } = {}) {
  const identity = await generateX25519Identity();
  const sealed = [];
  for (const [f, file] of files.entries()) {
    const pieces = [];
    for (let p = 0; p < Math.max(1, Math.ceil(file.bytes.length / PIECE)); p++) {
      const e = new Encrypter();
      e.addRecipient(await identityToRecipient(await pieceIdentity(bech32, identity, f, p)));
      pieces.push(await e.encrypt(file.bytes.subarray(p * PIECE, (p + 1) * PIECE)));
    }
    sealed.push(pieces);
  }
  if (swapFirstTwo) sealed[0] = [sealed[0][1], sealed[0][0], ...sealed[0].slice(2)];
  const e = new Encrypter();
  e.addRecipient(await identityToRecipient(identity));
  const manifest = await e.encrypt(JSON.stringify({ v: MANIFEST_VERSION, message, files: files.map((f) => ({ name: f.name, size: f.bytes.length })) }));
  const created = await api("POST", "/api/v1/transfers", {
    json: {
      manifest: Buffer.from(manifest).toString("base64"),
      files: sealed.map((pieces) => ({ pieces: pieces.length, size: pieces.reduce((n, p) => n + p.length, 0) })),
      expires_in: 3600,
    },
  });
  for (const [f, pieces] of sealed.entries()) {
    for (const [p, bytes] of pieces.entries()) {
      await api("PUT", `/api/v1/transfers/${created.id}/files/${f}/pieces/${p}`, { token: created.upload_token, bytes });
    }
  }
  const done = await api("POST", `/api/v1/transfers/${created.id}/complete`, { token: created.upload_token });
  return `${done.url}#${identity}`;
}

async function newPage(context) {
  const page = await context.newPage();
  const log = await watch(page);
  page.on("close", () => csp.push(...log.cspViolations));
  return { page, log };
}

const step = (s) => console.error(`step: ${s}`);
await run(async (browser) => {
  const out = {};

  // 1. Unsafe names, in a browser without service workers.
  const safe = new TextEncoder().encode(`safe contents ${Math.random()}`);
  const unsafeLink = await send([
    { name: "../outside.txt", bytes: new TextEncoder().encode("escape") },
    { name: "report.txt", bytes: safe },
    { name: "bell\u0007.txt", bytes: new TextEncoder().encode("bell") },
    { name: "/etc/passwd", bytes: new TextEncoder().encode("root") },
    { name: "invoice\u202Egpj.exe", bytes: new TextEncoder().encode("bidi") },
    { name: "C:evil.txt", bytes: new TextEncoder().encode("drive") },
    { name: "notes", bytes: new TextEncoder().encode("a file") },
    { name: "Notes/today.txt", bytes: new TextEncoder().encode("a file in a folder of that name") },
    { name: "x.handoff-part", bytes: new TextEncoder().encode("partial") },
  ], "");
  const noWorker = await browser.newContext({ viewport: PHONE, acceptDownloads: true, serviceWorkers: "block" });
  const a = await newPage(noWorker);
  await a.page.goto(unsafeLink);
  await a.page.locator("#open-button").click();
  await a.page.locator("#files").waitFor({ state: "visible" });
  await measure(a.page, "files: unsafe names refused");
  out.refused = {
    banner: await a.page.locator("#refused").textContent(),
    names: await a.page.locator("#file-rows .file-name").allTextContents(),
    statuses: await a.page.locator("#file-rows .file-status").allTextContents(),
    save_buttons: await a.page.locator("#file-rows button").count(),
    message_shown: await a.page.locator("#message-box").isVisible(),
    // Chromium has the File System Access API: the folder button is part of the page measured above.
    folder_button: await a.page.locator("#save-folder").isVisible(),
  };
  const [download] = await Promise.all([
    a.page.waitForEvent("download"),
    a.page.getByRole("button", { name: "Save report.txt" }).click(),
  ]);
  out.refused.saved_name = download.suggestedFilename();
  out.refused.saved_ok = sha256(readFileSync(await download.path())) === sha256(safe);
  await a.page.locator("#all-saved").waitFor({ state: "visible" });
  out.refused.done = await a.page.locator("#all-saved strong").textContent();
  checkClean(a.log, "unsafe names");
  await a.page.close();

  step("retry");
  // 2. A broken download, finished by the same tab after a reload.
  const bytes = new Uint8Array(10 * 1024 * 1024);
  for (let i = 0; i < bytes.length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  const retryLink = await send([{ name: "capture.pcap", bytes }], "the capture you asked for");
  const recipient = await browser.newContext({ viewport: PHONE, acceptDownloads: true });
  const b = await newPage(recipient);
  let refusedFetches = 0;
  // Every fetch of the second piece fails, as a dropped connection would.
  await b.page.route(/\/files\/0\/pieces\/1$/, (route) => {
    refusedFetches += 1;
    return route.abort("connectionreset");
  });
  await b.page.goto(retryLink);
  step("b opened");
  await b.page.locator("#open-button").click();
  await b.page.locator("#files").waitFor({ state: "visible" });
  const first = b.page.waitForEvent("download");
  await b.page.getByRole("button", { name: "Save capture.pcap" }).click();
  await b.page.locator("li.failed").waitFor({ state: "visible", timeout: 90_000 });
  out.retry = {
    failed_download: await (await first).failure(),
    refused_fetches: refusedFetches,
    failed_status: await b.page.locator("li.failed .file-status").textContent(),
  };
  await measure(b.page, "files: download failed");
  await b.page.unroute(/\/files\/0\/pieces\/1$/);
  step("reloading");
  await b.page.reload();
  await b.page.locator("#files").waitFor({ state: "visible" });
  out.retry.revealed_again = await b.page.locator("#transfer").isVisible();
  const [again] = await Promise.all([
    b.page.waitForEvent("download"),
    b.page.getByRole("button", { name: "Save capture.pcap" }).click(),
  ]);
  out.retry.saved_ok = sha256(readFileSync(await again.path())) === sha256(bytes);
  await b.page.locator("#all-saved").waitFor({ state: "visible" });
  checkClean(b.log, "retry");
  await b.page.close();

  step("reordered");
  // 3. Two full pieces in each other's place: each opens only in its own.
  const two = new Uint8Array(2 * PIECE);
  for (let i = 0; i < two.length; i += 65536) crypto.getRandomValues(two.subarray(i, i + 65536));
  const swappedLink = await send([{ name: "swapped.bin", bytes: two }], "", { swapFirstTwo: true });
  const d = await newPage(await browser.newContext({ viewport: PHONE, acceptDownloads: true }));
  await d.page.goto(swappedLink);
  await d.page.locator("#open-button").click();
  await d.page.locator("#files").waitFor({ state: "visible" });
  const attempt = d.page.waitForEvent("download", { timeout: 10_000 }).catch(() => null);
  await d.page.getByRole("button", { name: "Save swapped.bin" }).click();
  await d.page.locator("li.failed").waitFor({ state: "visible", timeout: 60_000 });
  const broken = await attempt;
  out.reordered = {
    status: await d.page.locator("li.failed .file-status").textContent(),
    download_failed: broken ? (await broken.failure()) !== null : true,
    saved: await d.page.locator("#all-saved").isVisible(),
  };
  checkClean(d.log, "reordered");
  await d.page.close();

  step("too big");
  // 4. Over the server's limit: refused before anything is stored.
  const sender = await browser.newContext({ viewport: PHONE });
  const c = await newPage(sender);
  const puts = [];
  c.page.on("request", (r) => {
    if (r.method() === "PUT") puts.push(r.url());
  });
  await c.page.goto(`${base}/files`);
  await c.page.locator("#file-input").setInputFiles([tooBig]);
  await c.page.locator("#send-button").click();
  await c.page.locator("#files-error").waitFor({ state: "visible" });
  out.too_big = { error: await c.page.locator("#files-error").textContent(), puts: puts.length };
  await measure(c.page, "files: too large");
  // Two names that are one file in a Windows or macOS folder: refused here, before anything is sent.
  await c.page.locator("#clear-files").click();
  await c.page.locator("#file-input").setInputFiles([
    { name: "Report.pdf", mimeType: "application/pdf", buffer: Buffer.from("one") },
    { name: "report.pdf", mimeType: "application/pdf", buffer: Buffer.from("two") },
  ]);
  await c.page.locator("#send-button").click();
  await c.page.waitForFunction(() => /Rename one/.test(document.getElementById("files-error").textContent));
  out.clash = { error: await c.page.locator("#files-error").textContent(), puts: puts.length };
  checkClean(c.log, "too large");
  await c.page.close();

  step("twins");
  // 5. A folder with a/config.json and b/config.json of one size and time;
  // the page is reloaded before any piece is stored, and the folder picked
  // again: each file must be sent from its own path.
  const t = await newPage(await browser.newContext({ viewport: PHONE }));
  t.page.on("dialog", (dialog) => dialog.accept());
  let putSeen;
  const firstPut = new Promise((resolve) => {
    putSeen = resolve;
  });
  let release;
  const held = new Promise((resolve) => {
    release = resolve;
  });
  await t.page.route(/\/pieces\/\d+$/, async (route) => {
    putSeen();
    await held;
    await route.abort("aborted").catch(() => {});
  });
  await t.page.goto(`${base}/files`);
  await t.page.locator("#folder-input").setInputFiles(twins);
  const sentNames = await t.page.locator("#file-list .file-name").allTextContents();
  await t.page.locator("#send-button").click();
  await firstPut;
  await t.page.reload();
  release();
  await t.page.unrouteAll({ behavior: "ignoreErrors" });
  await t.page.locator("#resume").waitFor({ state: "visible" });
  await t.page.locator("#resume-folder-input").setInputFiles(twins);
  await t.page.locator("#files-result:not([hidden]), #upload-error:not([hidden])").first().waitFor({ state: "visible", timeout: 60_000 });
  check(!(await t.page.locator("#upload-error").isVisible()), `resuming failed: ${await t.page.locator("#upload-error").textContent()}`);
  const twinsLink = await t.page.locator("#files-link").inputValue();
  checkClean(t.log, "twins sender");
  await t.page.close();
  const r = await newPage(await browser.newContext({ viewport: PHONE, acceptDownloads: true }));
  await r.page.goto(twinsLink);
  await r.page.locator("#open-button").click();
  await r.page.locator("#files").waitFor({ state: "visible" });
  const received = {};
  const rows = r.page.locator("#file-rows li");
  for (let i = 0; i < (await rows.count()); i++) {
    const name = await rows.nth(i).locator(".file-name").textContent();
    const [download] = await Promise.all([r.page.waitForEvent("download"), rows.nth(i).locator("button").click()]);
    received[name] = sha256(readFileSync(await download.path()));
  }
  out.twins = { sent_names: sentNames.sort(), received };
  checkClean(r.log, "twins recipient");
  await r.page.close();

  out.pages = pages;
  out.csp = csp;
  return out;
});
