// Saving the files of a transfer, shared by the recipient's page of a link
// (/f/{id}, files-receive.js) and the PM's retrieval page of a files request
// (/p/{id}, retrieve.js): once a reader holds a grant (the manifest, a
// download token, the files' piece counts and sizes, the grace time), the
// page decrypts the list of files here, refuses unsafe names, and saves
// each file as a download streamed to disk through a service worker
// (files-sw.js), piece by piece, or straight into a folder the person picks
// (the File System Access API). Without a service worker, a file up to
// BLOB_LIMIT is put together in memory instead. A file whose download
// breaks can be tried again until the grace time; when every file is
// saved the page tells the server (`finish`), which ends this reader's
// access.
//
// The page holds the section files with these elements, by id: grace-until,
// message-box, message, refused, file-rows, save-all, save-folder,
// save-folder-hint, all-saved (with a <strong> headline) and all-saved-note.

import { Decrypter, bech32 } from "/assets/age.js";
import { $, formatTime, fromBase64, postJson, showError } from "/assets/common.js";
import {
  BLOB_LIMIT, MANIFEST_VERSION, Progress, backoff, baseName, countdown, formatBytes, nameClashes, pieceIdentity, pieceRange,
  piecesOf, unsafeNameReason, visibleName,
} from "/assets/files-format.js";

/** Tries per piece before a file's download stops with "Try again". */
const TRIES = 5;

const hasWorker = "serviceWorker" in navigator;

// ---------------------------------------------------------------------------
// The list of files

/**
 * The list of files could not be read with the key: `old` when it is of
 * manifest version 1, whose pieces all went to one key, so that their order
 * was not authenticated; this page no longer reads those.
 */
export class ManifestError extends Error {
  constructor(message, old = false) {
    super(message);
    this.old = old;
  }
}

/** Reads the manifest: {message, files: [{name, size, refused}]}; throws ManifestError when it cannot be read. */
async function readManifest(identity, claimed) {
  let manifest;
  try {
    const d = new Decrypter();
    d.addIdentity(identity);
    manifest = JSON.parse(await d.decrypt(fromBase64(claimed.manifest), "text"));
  } catch (e) {
    throw new ManifestError(`the list of files could not be decrypted: ${e?.message ?? e}`);
  }
  if (manifest?.v === 1) throw new ManifestError("the list of files is of version 1", true);
  if (manifest?.v !== MANIFEST_VERSION || !Array.isArray(manifest.files) || manifest.files.length !== claimed.files.length) {
    throw new ManifestError("the list of files does not match what the server holds");
  }
  // Names that clash with each other in one folder are refused, every one
  // of them: which is the one meant cannot be told.
  const clashes = nameClashes(manifest.files.map((f) => f?.name));
  const files = manifest.files.map((f, i) => {
    const size = f?.size;
    let refused = unsafeNameReason(f?.name) ?? clashes[i];
    if (!refused && !(Number.isSafeInteger(size) && size >= 0 && piecesOf(size) === claimed.files[i].pieces)) {
      refused = "its size does not match what the server holds";
    }
    return { name: typeof f?.name === "string" ? f.name : "", size: Number.isSafeInteger(size) ? size : 0, refused };
  });
  return { message: typeof manifest.message === "string" ? manifest.message : "", files };
}

/**
 * Shows the files of transfer `transferId` that `claimed` grants (the
 * claim's or a reader's grant: manifest, download_token, files,
 * grace_until), whose manifest opens with `identity`, in the section files,
 * ready to save. `message` is shown when given, else the manifest's own.
 * `forget()` is called when the grant is of no more use to this tab (all is
 * saved, or the server no longer hands the pieces out). Throws
 * ManifestError, having shown nothing, when the list cannot be read.
 */
export async function showFiles({ transferId, identity, claimed, message = "", forget }) {
  const manifest = await readManifest(identity, claimed);
  const ctx = { transferId, forget };
  $("files").hidden = false;
  const grace = $("grace-until");
  grace.textContent = formatTime(claimed.grace_until);
  grace.dateTime = claimed.grace_until;
  const said = message || manifest.message;
  if (said) {
    $("message-box").hidden = false;
    $("message").textContent = said;
  }
  const token = claimed.download_token;
  const rows = manifest.files.map((f, i) => row(ctx, f, i, claimed.files[i].pieces));
  $("file-rows").replaceChildren(...rows.map((r) => r.li));
  const refused = manifest.files.filter((f) => f.refused);
  if (refused.length) {
    showError($("refused"), `${refused.length === 1 ? "One file is" : `${refused.length} files are`} not saved because ${refused.length === 1 ? "its" : "their"} name or size is unsafe; the rest can be saved. Tell the sender.`);
  }
  const saveAll = $("save-all");
  const saveFolder = $("save-folder");
  const todo = () => rows.filter((r) => !r.file.refused && !r.saved);
  // The File System Access API (Chromium browsers): files written straight
  // into a folder the person picks, subfolders kept.
  const canPickFolder = typeof window.showDirectoryPicker === "function";
  const layout = () => {
    saveAll.hidden = todo().length < 2;
    saveFolder.hidden = !canPickFolder || todo().length === 0;
    $("save-folder-hint").hidden = saveFolder.hidden;
  };
  layout();
  const saveEach = async (dir) => {
    saveAll.disabled = true;
    saveFolder.disabled = true;
    for (const r of todo()) {
      // One after another: each is a download of its own.
      if (!(await r.save(dir))) break;
    }
    saveAll.disabled = false;
    saveFolder.disabled = false;
  };
  saveAll.onclick = () => saveEach(null);
  saveFolder.onclick = async () => {
    let dir;
    try {
      dir = await window.showDirectoryPicker({ id: "handoff-files", mode: "readwrite" });
    } catch (e) {
      // AbortError: the person closed the picker; nothing to say.
      if (e?.name !== "AbortError") showError($("refused"), `That folder cannot be used: ${e?.message ?? e}. Pick another, or save the files one by one.`);
      return;
    }
    await saveEach(dir);
  };
  for (const r of rows) {
    r.onSaved = async () => {
      if (todo().length === 0) await finish(ctx, token, true, refused.length > 0);
      layout();
    };
    r.token = token;
    r.identity = identity;
  }
  if (todo().length === 0) await finish(ctx, token, rows.some((r) => r.saved), refused.length > 0);
}

/** One file's line: its name, size, a Save button, a progress bar and a status. */
function row(ctx, file, index, pieces) {
  const li = document.createElement("li");
  li.className = "transfer-file";
  const head = document.createElement("div");
  head.className = "file-head";
  const name = document.createElement("span");
  name.className = "file-name";
  // A refused name may hold characters that make it read as another: shown written out.
  name.textContent = file.refused ? visibleName(file.name) || "(no name)" : file.name;
  const size = document.createElement("span");
  size.className = "file-size";
  size.textContent = formatBytes(file.size);
  head.append(name, size);
  const status = document.createElement("p");
  status.className = "file-status";
  status.setAttribute("aria-live", "polite");
  li.append(head);
  // `dir`: the folder this file goes into (the File System Access API), or null for a download.
  const r = { li, file, saved: false, onSaved: async () => {}, token: "", identity: "", dir: null };
  if (file.refused) {
    li.classList.add("refused");
    status.textContent = `Not saved: ${file.refused}.`;
    li.append(status);
    return r;
  }
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = "Save";
  button.setAttribute("aria-label", `Save ${baseName(file.name)}`);
  const bar = document.createElement("progress");
  bar.max = Math.max(1, file.size);
  bar.value = 0;
  bar.hidden = true;
  bar.setAttribute("aria-label", `Saving ${baseName(file.name)}`);
  const actions = document.createElement("div");
  actions.className = "file-actions";
  actions.append(button, bar);
  li.append(actions, status);
  // Try again goes where the first try went.
  r.save = async (dir = r.dir) => {
    r.dir = dir;
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    li.classList.remove("failed");
    status.textContent = "Starting…";
    try {
      const savedAs = await download(ctx, r, index, pieces, r.dir, (done, line) => {
        bar.value = done;
        status.textContent = line;
      });
      r.saved = true;
      li.classList.add("saved");
      button.hidden = true;
      bar.value = bar.max;
      status.textContent = r.dir
        ? `Saved into the folder you picked${r.dir.name ? ` (${r.dir.name})` : ""}, as ${savedAs}.`
        : "Saved to your downloads.";
      await r.onSaved();
      return true;
    } catch (e) {
      li.classList.add("failed");
      button.disabled = false;
      button.textContent = "Try again";
      button.setAttribute("aria-label", `Try again to save ${baseName(file.name)}`);
      status.textContent = e?.message ?? String(e);
      return false;
    }
  };
  button.addEventListener("click", () => r.save());
  return r;
}

// ---------------------------------------------------------------------------
// Downloading

/** A refusal to show as it is, ending one file's download. */
class DownloadError extends Error {}

/** Saves one file; returns the path it was saved as (in a folder, it may have " (1)" added). */
async function download(ctx, r, index, pieces, dir, report) {
  const { file } = r;
  const sink = dir ? await folderSink(dir, file.name) : await openSink(file);
  const progress = new Progress(file.size);
  const timer = setInterval(() => {
    progress.sample();
    report(progress.done, progress.line());
  }, 500);
  try {
    for (let p = 0; p < pieces; p++) {
      const [start, end] = pieceRange(file.size, p);
      const sealed = await fetchPiece(ctx, r.token, index, p);
      // Each piece has a key of its own place: a piece moved elsewhere does not open.
      const d = new Decrypter();
      d.addIdentity(await pieceIdentity(bech32, r.identity, index, p));
      let plain;
      try {
        plain = await d.decrypt(sealed);
      } catch {
        throw new DownloadError("A part of this file could not be decrypted: it was damaged, changed or moved on the way. Nothing more can be saved from it.");
      }
      if (plain.length !== end - start) {
        throw new DownloadError("A part of this file has the wrong length: it was damaged or changed on the way.");
      }
      await sink.write(plain);
      progress.add(plain.length);
    }
    await sink.close();
    return sink.name ?? baseName(file.name);
  } catch (e) {
    sink.abort(e?.message ?? String(e));
    throw e;
  } finally {
    clearInterval(timer);
  }
}

/** Piece `p` of file `f`, with retries on a network failure; throws DownloadError when it cannot be had. */
async function fetchPiece(ctx, token, f, p) {
  const url = `/api/v1/transfers/${encodeURIComponent(ctx.transferId)}/files/${f}/pieces/${p}`;
  for (let attempt = 0; ; attempt++) {
    let status = 0;
    try {
      const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
      status = res.status;
      if (res.ok) return new Uint8Array(await res.arrayBuffer());
    } catch {
      status = 0;
    }
    if (status === 404) {
      ctx.forget();
      throw new DownloadError("The server no longer hands out these files: the time to finish the download has passed. Ask the sender to send them again.");
    }
    if (attempt + 1 >= TRIES) {
      throw new DownloadError("The connection keeps failing. Check it, then press Try again (until the time shown above).");
    }
    await countdown(backoff(attempt), () => {});
  }
}

// ---------------------------------------------------------------------------
// Where a file goes: a download streamed through the service worker, or,
// without one, a Blob in memory.

const WORKER = "/assets/files-sw.js";
/**
 * Where the worker's synthetic downloads live: the folder `files-download/`
 * beside its script, which is the worker's scope (a worker may only take a
 * scope within its script's folder).
 */
const DOWNLOADS = new URL("files-download/", new URL(WORKER, location.href)).href;

let workerRegistration = null;

/** The active service worker's registration, or null where there is none. */
async function serviceWorker() {
  if (!hasWorker) return null;
  if (workerRegistration?.active) return workerRegistration;
  try {
    const reg = await navigator.serviceWorker.register(WORKER, { scope: DOWNLOADS });
    const worker = reg.installing ?? reg.waiting ?? reg.active;
    if (worker && worker.state !== "activated") {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the service worker did not start")), 10_000);
        worker.addEventListener("statechange", () => {
          if (worker.state === "activated") {
            clearTimeout(timer);
            resolve();
          } else if (worker.state === "redundant") {
            clearTimeout(timer);
            reject(new Error("the service worker stopped"));
          }
        });
      });
    }
    workerRegistration = reg.active ? reg : null;
  } catch {
    workerRegistration = null;
  }
  return workerRegistration;
}

async function openSink(file) {
  const reg = await serviceWorker();
  if (reg) {
    const sink = await workerSink(reg, file);
    if (sink) return sink;
  }
  if (file.size > BLOB_LIMIT) {
    throw new DownloadError(`This browser cannot save a file straight to disk, and this one (${formatBytes(file.size)}) is too large to put together in memory (the limit is ${formatBytes(BLOB_LIMIT)}). Open the link in a current Chrome, Edge, Firefox or Safari, in this same window, before the time shown above.`);
  }
  return blobSink(file);
}

const randomPart = () => [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");

/**
 * A sink that streams to a download through the service worker, or null
 * when the worker does not take the download (the page then falls back).
 */
async function workerSink(reg, file) {
  const channel = new MessageChannel();
  const port = channel.port1;
  const name = baseName(file.name);
  const url = `${DOWNLOADS}${randomPart()}/${encodeURIComponent(name)}`;
  let credits = 0;
  let waiter = null;
  let cancelled = false;
  let first = null;
  const started = new Promise((resolve) => {
    first = resolve;
  });
  const ready = new Promise((resolve) => {
    port.onmessage = ({ data }) => {
      if (data.ready) resolve(true);
      if (data.pull) {
        credits += 1;
        first(true);
      }
      if (data.cancelled) cancelled = true;
      waiter?.();
      waiter = null;
    };
  });
  reg.active.postMessage({ type: "download", url, name, size: file.size }, [channel.port2]);
  if (!(await Promise.race([ready, delay(5000, false)]))) return null;
  // A plain navigation, not <a download>: Chromium sends download-attribute
  // requests past service workers. The answer's Content-Disposition turns
  // the navigation into a download, and this page stays.
  const a = document.createElement("a");
  a.href = url;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The browser asks for the first bytes as soon as the download starts.
  if (!(await Promise.race([started, delay(15_000, false)]))) return null;
  // Messages to the worker keep it alive during a long download.
  const ping = setInterval(() => reg.active?.postMessage({ type: "ping" }), 10_000);
  const stop = () => clearInterval(ping);
  return {
    async write(chunk) {
      while (credits === 0 && !cancelled) await new Promise((resolve) => { waiter = resolve; });
      if (cancelled) {
        stop();
        throw new DownloadError("The download was cancelled in the browser. Press Try again to save the file.");
      }
      credits -= 1;
      const own = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength ? chunk : chunk.slice();
      port.postMessage({ chunk: own }, [own.buffer]);
    },
    async close() {
      port.postMessage({ done: true });
      stop();
    },
    abort(reason) {
      port.postMessage({ error: reason });
      stop();
    },
  };
}

/**
 * A sink that writes `name` (a relative path that unsafeNameReason
 * accepted) under the folder `root` the person picked, making its
 * subfolders, through the File System Access API. The browser writes to a
 * temporary file and puts it in place on close, so a broken download leaves
 * nothing under the name. A name taken already gets " (1)", " (2)" … before
 * its extension, as browser downloads do; nothing is overwritten. The
 * sink's `name` is the path it writes.
 */
async function folderSink(root, name) {
  let writable;
  let saved;
  try {
    const parts = name.split("/");
    let dir = root;
    for (const part of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(part, { create: true });
    saved = await freeName(dir, parts.at(-1));
    const handle = await dir.getFileHandle(saved, { create: true });
    writable = await handle.createWritable();
    saved = [...parts.slice(0, -1), saved].join("/");
  } catch (e) {
    if (e instanceof DownloadError) throw e;
    throw new DownloadError(`The file could not be created in that folder (${e?.message ?? e}). Press Try again, or save it with Save.`);
  }
  return {
    /** The path under `root` the file is saved as. */
    name: saved,
    write: (chunk) => writable.write(chunk),
    close: () => writable.close(),
    abort: () => {
      writable.abort().catch(() => {});
    },
  };
}

/** `name`, or the first of "name (1).ext", "name (2).ext" … that `dir` does not hold yet. */
async function freeName(dir, name) {
  const dot = name.lastIndexOf(".");
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ""];
  for (let n = 0; n < 1000; n++) {
    const candidate = n === 0 ? name : `${stem} (${n})${ext}`;
    try {
      await dir.getFileHandle(candidate);
    } catch (e) {
      if (e?.name === "NotFoundError") return candidate;
      // TypeMismatchError: a folder has that name; try the next.
      if (e?.name !== "TypeMismatchError") throw e;
    }
  }
  throw new DownloadError(`That folder already holds ${name} and 999 numbered copies of it. Pick another folder.`);
}

const delay = (ms, value) => new Promise((resolve) => setTimeout(() => resolve(value), ms));

/** A sink that keeps the file in memory and hands it over as one download at the end. */
function blobSink(file) {
  const parts = [];
  return {
    async write(chunk) {
      parts.push(chunk);
    },
    async close() {
      const url = URL.createObjectURL(new Blob(parts, { type: "application/octet-stream" }));
      parts.length = 0;
      const a = document.createElement("a");
      a.href = url;
      a.download = baseName(file.name);
      a.hidden = true;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    abort() {
      parts.length = 0;
    },
  };
}

/**
 * Tells the server that this browser has what it can save, so the pieces
 * are deleted now rather than at the end of the grace. `saved` is false
 * when no file could be saved (every name was refused), `someRefused` true
 * when some were.
 */
async function finish(ctx, token, saved, someRefused) {
  const res = await postJson(`/api/v1/transfers/${encodeURIComponent(ctx.transferId)}/finish`, undefined, {
    Authorization: `Bearer ${token}`,
  });
  ctx.forget();
  $("all-saved").hidden = false;
  $("save-all").hidden = true;
  $("save-folder").hidden = true;
  $("save-folder-hint").hidden = true;
  const headline = $("all-saved").querySelector("strong");
  if (!saved) headline.textContent = "No file could be saved.";
  else if (someRefused) headline.textContent = "Every file that could be saved is saved.";
  if (!res.ok && res.status !== 404) {
    $("all-saved-note").textContent = "The server could not be told to delete them now; it deletes them at the end of the time shown above anyway.";
  }
}
