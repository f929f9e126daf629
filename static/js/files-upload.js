// Sending files from a page, shared by the "Send files" page (/files,
// files-send.js) and a files request's page (/r/{id}, request-files.js):
// pick files or a folder, encrypt each 4 MiB piece here with age (each to
// the key of its place, files-format.js), upload only ciphertext, two pieces
// at a time, with progress, speed, time left and retries, then complete the
// transfer and hand it to the page (a link to show, or a request to answer).
//
// An unfinished upload survives a reload: its id, upload token, key and the
// files' names, sizes and times (and, for a request, the message) stay in
// this browser's localStorage until the page is done with it. Opening the
// page again offers to resume: the same files are picked again (checked by
// path, size and time), the server says which pieces it has, and only the
// rest are encrypted and sent.
//
// The page holds these elements, by id: the form (files-form, send-button,
// files-error, dropzone, file-input, folder-input, file-list, file-summary,
// clear-files, message) in the section compose; the offer to resume (resume,
// resume-summary, resume-list, resume-input, resume-folder-input,
// resume-error, resume-discard); and the upload's progress (upload,
// upload-progress, upload-status, upload-notice, upload-error, upload-retry,
// upload-restart).

import { Encrypter, bech32, generateX25519Identity, identityToRecipient } from "/assets/age.js";
import { $, postJson, requireSecureContext, showError, toBase64 } from "/assets/common.js";
import {
  MANIFEST_VERSION, MAX_FILES, Progress, backoff, countdown, fileCiphertextSize, formatBytes, formatBytesApart, getJson,
  nameClashes, pieceCiphertextSize, pieceIdentity, pieceRange, piecesOf, unsafeNameReason, visibleName,
} from "/assets/files-format.js";

/** Pieces uploading at once: enough to keep the line busy, little memory (two 4 MiB pieces). */
const IN_FLIGHT = 2;
/** Tries per piece before the page stops and offers "Try again". */
const TRIES = 8;

/** A refusal to show as it is; `final` when the upload cannot go on (expired, unknown, answered). */
export class UploadError extends Error {
  constructor(message, final = false) {
    super(message);
    this.final = final;
  }
}

/**
 * Wires the page's form, resume offer and upload to send files. `options`:
 * - `storeKey`: the localStorage key of this page's unfinished upload;
 * - `bind()`: what the new transfer is for, merged into the body of
 *   `POST /api/v1/transfers`: `{expires_in}` (a link) or `{request}`;
 * - `messageInManifest`: true to encrypt the message into the manifest (a
 *   link's recipient reads it there); false to keep it with the upload as
 *   `upload.message`, for `done` to send some other way;
 * - `per`: what one transfer is, in the sentences ("link", "request");
 * - `splitAdvice`: what to do with too many or too large files, a sentence;
 * - `restartable`: whether a lost upload may be started again here;
 * - `done(upload, completed)`: called once the server has every piece
 *   (`completed` is the answer of `POST …/complete`); shows the result, or
 *   throws an UploadError (final or not) that the page shows. The upload is
 *   forgotten here only when it returns.
 * - `onRestart()`: optional, when the person starts again.
 */
export function wireSender(options) {
  const form = $("files-form");
  const sendButton = $("send-button");
  const formError = $("files-error");
  const secure = requireSecureContext(sendButton, ...form.elements);

  /** The files chosen so far: [{file, name}], `name` being the path within a dropped or picked folder. */
  let chosen = [];
  /** True while pieces are going up (or the page is finishing): leaving the page would stop them. */
  let uploading = false;

  // -------------------------------------------------------------------------
  // Choosing files

  /** Adds files, replacing one already chosen under the same name. */
  function add(items) {
    for (const item of items) {
      const at = chosen.findIndex((c) => c.name === item.name);
      if (at >= 0) chosen[at] = item;
      else chosen.push(item);
    }
    renderChosen();
  }

  function renderChosen() {
    $("file-list").replaceChildren(...chosen.map(({ file, name }) => fileItem(name, file.size)));
    const total = chosen.reduce((sum, c) => sum + c.file.size, 0);
    $("file-summary").textContent = chosen.length
      ? `${chosen.length} ${chosen.length === 1 ? "file" : "files"}, ${formatBytes(total)} in all.`
      : "";
    $("clear-files").hidden = chosen.length === 0;
  }

  const zone = $("dropzone");
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (!secure) return;
    try {
      add(await dropped(e.dataTransfer));
    } catch (err) {
      showError(formError, `Those files could not be read: ${err?.message ?? err}`);
    }
  });
  for (const input of [$("file-input"), $("folder-input")]) {
    input.addEventListener("change", () => {
      add(fromInput(input));
      input.value = "";
    });
  }
  $("clear-files").addEventListener("click", () => {
    chosen = [];
    renderChosen();
  });

  /** What is wrong with the chosen files, as a sentence, or "". */
  function problem(items) {
    if (items.length === 0) return "Choose at least one file to send.";
    if (items.length > MAX_FILES) return `That is ${items.length} files; one ${options.per} can carry at most ${MAX_FILES}. ${options.splitAdvice}`;
    for (const { name } of items) {
      const why = unsafeNameReason(name);
      if (why) return `The file name “${visibleName(name)}” cannot be sent: ${why}. Rename it and choose it again.`;
    }
    // What the recipient's reader would refuse (README "File transfers").
    const clashes = nameClashes(items.map((i) => i.name));
    const at = clashes.findIndex(Boolean);
    if (at >= 0) return `The file name “${items[at].name}” cannot be sent: ${clashes[at]}. Rename one of them and choose them again.`;
    return "";
  }

  // -------------------------------------------------------------------------
  // Sending

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!secure || sendButton.disabled) return;
    showError(formError, "");
    const wrong = problem(chosen);
    if (wrong) {
      showError(formError, wrong);
      return;
    }
    sendButton.disabled = true;
    const label = sendButton.textContent;
    sendButton.textContent = "Encrypting…";
    try {
      await create();
    } catch (e) {
      showError(formError, `Something went wrong in this browser: ${e?.message ?? e}`);
    } finally {
      sendButton.disabled = false;
      sendButton.textContent = label;
    }
  });

  /**
   * The server's refusal of files over its limit (413), in words. The limit
   * (the page's `data-max-bytes`) counts ciphertext, `encrypted` bytes in
   * all (what was declared): a file just under the limit can be over it
   * once encrypted, so the sentence gives both, written so that they differ.
   */
  function tooLarge(encrypted) {
    const max = Number(form.dataset.maxBytes);
    if (!(max > 0)) return `These files are too large for this server: they take ${formatBytes(encrypted)} once encrypted. ${options.splitAdvice}`;
    const [take, limit] = formatBytesApart(encrypted, max);
    return `These files are too large for this server: they take ${take} once encrypted, and it takes at most ${limit} per ${options.per}. ${options.splitAdvice}`;
  }

  async function create() {
    const identity = await generateX25519Identity();
    const encrypter = new Encrypter();
    encrypter.addRecipient(await identityToRecipient(identity));
    const empty = await emptyPieceSize(encrypter);
    const manifest = {
      v: MANIFEST_VERSION,
      files: chosen.map(({ file, name }) => ({
        name,
        size: file.size,
        ...(file.type ? { type: file.type } : {}),
        modified: Math.floor(file.lastModified / 1000),
      })),
    };
    const message = $("message").value.trim();
    if (message && options.messageInManifest) manifest.message = message;
    const sealed = await encrypter.encrypt(JSON.stringify(manifest));
    const declared = chosen.map(({ file }) => ({ pieces: piecesOf(file.size), size: fileCiphertextSize(empty, file.size) }));
    const res = await postJson("/api/v1/transfers", { manifest: toBase64(sealed), files: declared, ...options.bind() });
    if (!res.ok) {
      const encrypted = declared.reduce((sum, f) => sum + f.size, 0);
      showError(formError, `${res.status === 413 ? tooLarge(encrypted) : res.data.message} Nothing was sent.`);
      return;
    }
    const upload = {
      id: res.data.id,
      url: res.data.url,
      upload_token: res.data.upload_token,
      expires_at: res.data.expires_at,
      identity,
      files: chosen.map(({ file, name }) => ({ name, size: file.size, lastModified: file.lastModified })),
    };
    if (message && !options.messageInManifest) upload.message = message;
    localStorage.setItem(options.storeKey, JSON.stringify(upload));
    const files = chosen.map((c) => c.file);
    chosen = [];
    renderChosen();
    form.reset();
    await run(upload, files);
  }

  /** Uploads what the server lacks of `upload`, completes it and hands it to the page. */
  async function run(upload, files) {
    $("compose").hidden = true;
    $("resume").hidden = true;
    $("upload").hidden = false;
    $("upload-retry").hidden = true;
    showError($("upload-error"), "");
    uploading = true;
    try {
      const state = await getJson(`/api/v1/transfers/${encodeURIComponent(upload.id)}/upload`, upload.upload_token);
      if (!state.ok) throw new UploadError(state.status === 404 ? gone() : state.data.message, state.status === 404);
      if (!state.data.complete) await sendMissing(upload, files, state.data.files);
      await complete(upload);
    } catch (e) {
      uploading = false;
      if (e instanceof UploadError && e.final) {
        forget();
        showError($("upload-error"), e.message);
        $("upload-restart").hidden = !options.restartable;
      } else {
        showError($("upload-error"), e instanceof UploadError ? e.message : `Something went wrong in this browser: ${e?.message ?? e}`);
        $("upload-retry").hidden = false;
        $("upload-retry").onclick = () => run(upload, files);
      }
    }
  }

  async function sendMissing(upload, files, serverFiles) {
    const sizer = new Encrypter();
    sizer.addRecipient(await identityToRecipient(upload.identity));
    const empty = await emptyPieceSize(sizer);
    const queue = [];
    let done = 0;
    const total = files.reduce((sum, f) => sum + f.size, 0);
    files.forEach((file, f) => {
      const present = new Set(serverFiles[f]?.present ?? []);
      for (let p = 0; p < piecesOf(file.size); p++) {
        const [start, end] = pieceRange(file.size, p);
        if (present.has(p)) done += end - start;
        else queue.push({ f, p, start, end });
      }
    });
    const progress = new Progress(total, done);
    const partial = new Map();
    const bar = $("upload-progress");
    const line = $("upload-status");
    bar.max = Math.max(1, total);
    const paint = () => {
      const under = [...partial.values()].reduce((a, b) => a + b, 0);
      progress.sample(under);
      bar.value = Math.min(total, progress.done + under);
      line.textContent = progress.line(under);
    };
    paint();
    const timer = setInterval(paint, 500);
    const notice = $("upload-notice");
    try {
      const worker = async () => {
        while (queue.length) {
          const job = queue.shift();
          const key = `${job.f}/${job.p}`;
          const encrypter = new Encrypter();
          encrypter.addRecipient(await identityToRecipient(await pieceIdentity(bech32, upload.identity, job.f, job.p)));
          const blob = await encryptPiece(encrypter, files[job.f].slice(job.start, job.end));
          const expected = pieceCiphertextSize(empty, job.end - job.start);
          if (blob.size !== expected) throw new Error(`piece ${key} encrypted to ${blob.size} bytes, not ${expected}`);
          const url = `/api/v1/transfers/${encodeURIComponent(upload.id)}/files/${job.f}/pieces/${job.p}`;
          for (let attempt = 0; ; attempt++) {
            const res = await put(url, upload.upload_token, blob, (loaded) => {
              partial.set(key, Math.round(((job.end - job.start) * loaded) / blob.size));
            });
            partial.delete(key);
            // 409 piece_exists: the server kept a whole copy of this piece from
            // before a reload; 409 complete: all of it is there already.
            if (res.status === 204 || res.status === 409) break;
            if (res.status === 404) throw new UploadError(gone(), true);
            const passing = res.status === 0 || res.status === 408 || res.status === 429 || res.status >= 500;
            if (!passing) throw new UploadError(`${res.data?.message ?? `The server answered ${res.status}.`}`);
            if (attempt + 1 >= TRIES) {
              throw new UploadError("The connection keeps failing. Check it, then press Try again: what was sent is kept.");
            }
            await countdown(backoff(attempt), (s) => {
              notice.textContent = `The connection was lost; trying again in ${s} s.`;
            });
            notice.textContent = "";
          }
          progress.add(job.end - job.start);
        }
      };
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    } finally {
      clearInterval(timer);
      partial.clear();
      paint();
    }
  }

  async function complete(upload) {
    const res = await postJson(`/api/v1/transfers/${encodeURIComponent(upload.id)}/complete`, undefined, {
      Authorization: `Bearer ${upload.upload_token}`,
    });
    if (res.status === 404) throw new UploadError(gone(), true);
    if (!res.ok) throw new UploadError(res.data.message);
    await options.done(upload, res.data);
    uploading = false;
    forget();
    $("upload").hidden = true;
  }

  function forget() {
    localStorage.removeItem(options.storeKey);
  }

  window.addEventListener("beforeunload", (e) => {
    if (!uploading) return;
    e.preventDefault();
    e.returnValue = ""; // what older browsers need to ask
  });

  // -------------------------------------------------------------------------
  // Resuming after a reload

  function saved() {
    try {
      const upload = JSON.parse(localStorage.getItem(options.storeKey) ?? "null");
      if (!upload?.id || !Array.isArray(upload.files)) return null;
      if (new Date(upload.expires_at).getTime() <= Date.now()) {
        forget();
        return null;
      }
      return upload;
    } catch {
      return null;
    }
  }

  function offerResume(upload) {
    $("compose").hidden = true;
    $("resume").hidden = false;
    const total = upload.files.reduce((sum, f) => sum + f.size, 0);
    $("resume-summary").textContent = `${upload.files.length} ${upload.files.length === 1 ? "file" : "files"}, ${formatBytes(total)} in all`;
    $("resume-list").replaceChildren(...upload.files.map((f) => fileItem(f.name, f.size)));
    let picked = [];
    const tryResume = () => {
      const { files, missing } = match(upload, picked);
      if (missing.length) {
        showError($("resume-error"), `Still missing (the same path, size and modification time are needed: a file sent in a folder is picked again with its folder): ${missing.join(", ")}.`);
        return;
      }
      showError($("resume-error"), "");
      run(upload, files);
    };
    for (const input of [$("resume-input"), $("resume-folder-input")]) {
      input.addEventListener("change", () => {
        picked = [...picked, ...fromInput(input)];
        input.value = "";
        tryResume();
      });
    }
    $("resume-discard").addEventListener("click", () => {
      forget();
      $("resume").hidden = true;
      $("compose").hidden = false;
    });
  }

  $("upload-restart").addEventListener("click", () => {
    $("upload").hidden = true;
    $("upload-restart").hidden = true;
    $("compose").hidden = false;
    options.onRestart?.();
  });

  const unfinished = secure ? saved() : null;
  if (unfinished) offerResume(unfinished);
  return { secure };
}

const gone = () => "The server no longer has this upload: it expired, or was never finished in time. Start again with the files.";

const fromInput = (input) => [...input.files].map((file) => ({ file, name: file.webkitRelativePath || file.name }));

/** One line of a list of files: its name and size. */
function fileItem(name, size) {
  const li = document.createElement("li");
  const n = document.createElement("span");
  n.className = "file-name";
  n.textContent = name;
  const s = document.createElement("span");
  s.className = "file-size";
  s.textContent = formatBytes(size);
  li.append(n, s);
  return li;
}

/** Every file under a dropped entry (a folder is read to its end), with its path. */
async function entryFiles(entry) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    return [{ file, name: entry.fullPath.replace(/^\/+/, "") }];
  }
  if (!entry.isDirectory) return [];
  const reader = entry.createReader();
  const out = [];
  for (;;) {
    // readEntries gives a batch at a time (100 in Chromium) until an empty one.
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) break;
    for (const child of batch) out.push(...(await entryFiles(child)));
  }
  return out;
}

async function dropped(dataTransfer) {
  const entries = [...dataTransfer.items]
    .filter((i) => i.kind === "file")
    .map((i) => i.webkitGetAsEntry?.())
    .filter(Boolean);
  if (entries.length === 0) return [...dataTransfer.files].map((file) => ({ file, name: file.name }));
  const out = [];
  for (const e of entries) out.push(...(await entryFiles(e)));
  return out;
}

/** The size of an empty piece to the encrypter's recipient: header, nonce and one tag. */
async function emptyPieceSize(encrypter) {
  return (await encrypter.encrypt(new Uint8Array(0))).length;
}

/** One piece's age file, encrypted as a stream from the file's slice (one 4 MiB piece in memory). */
async function encryptPiece(encrypter, slice) {
  const stream = await encrypter.encrypt(slice.stream());
  return new Response(stream).blob();
}

/** PUTs `blob` with XMLHttpRequest, which reports upload progress; status 0 is a network failure. */
function put(url, token, blob, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => {
      let data = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = null;
      }
      resolve({ status: xhr.status, data });
    };
    xhr.onerror = () => resolve({ status: 0, data: null });
    xhr.onabort = xhr.onerror;
    xhr.ontimeout = xhr.onerror;
    xhr.send(blob);
  });
}

/**
 * The picked files in the order of `upload.files`, or the names still
 * missing. A file matches by its full path as sent (a file sent in a folder
 * is picked again with its folder), its size and its time, and each picked
 * file stands for one file of the upload at most: two files of the same
 * name, size and time in different folders never both map to one.
 */
function match(upload, picked) {
  const out = [];
  const missing = [];
  const used = new Set();
  for (const want of upload.files) {
    const at = picked.findIndex(({ file, name }, i) => !used.has(i) && name === want.name
      && file.size === want.size && file.lastModified === want.lastModified);
    if (at >= 0) {
      used.add(at);
      out.push(picked[at].file);
    } else missing.push(want.name);
  }
  return { files: out, missing };
}
