// The service worker that lets the recipient's page save a file as a normal
// download, streamed to disk, never whole in memory.
//
// The page (files-save.js, on /f/ and /p/) decrypts a file piece by piece.
// For each file it posts {type: "download", url, name, size} with a
// MessagePort; the worker
// answers "ready", and the page then opens that synthetic URL, which lies in
// this worker's scope (the folder files-download/ beside this script). The worker answers that one
// request with a response whose body is a stream fed through the port:
// every time the stream wants more it posts {pull: true}, and the page
// answers {chunk} (or {done}, or {error}). Content-Disposition makes the
// browser save it as a download under the file's name. Nothing here reads or
// keeps the key; the worker only sees plaintext passing to the disk.

/** url → {port, name, size}: downloads announced and not yet opened. */
const pending = new Map();

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("message", (event) => {
  const data = event.data;
  // {type: "ping"} arrives while a download runs; receiving it keeps this worker alive.
  if (data?.type !== "download" || !event.ports[0]) return;
  const port = event.ports[0];
  pending.set(data.url, { port, name: String(data.name), size: Number(data.size) });
  // An announced download that is never opened is forgotten after a minute.
  setTimeout(() => pending.delete(data.url), 60_000);
  port.postMessage({ ready: true });
});

self.addEventListener("fetch", (event) => {
  const url = event.request.url;
  if (!url.startsWith(self.registration.scope)) return;
  const entry = pending.get(url);
  if (!entry) {
    // 204: a navigation to it leaves the page as it is; the page then says
    // the download did not start and offers to try again.
    event.respondWith(new Response(null, { status: 204 }));
    return;
  }
  // Each announced download is opened once.
  pending.delete(url);
  event.respondWith(new Response(streamFrom(entry.port), { headers: headersFor(entry) }));
});

/** A stream fed by the page through `port`, one chunk per pull. */
function streamFrom(port) {
  let wake = null;
  return new ReadableStream({
    start(controller) {
      port.onmessage = ({ data }) => {
        if (data.chunk) controller.enqueue(data.chunk);
        else if (data.done) controller.close();
        else if (data.error) controller.error(new Error(data.error));
        wake?.();
        wake = null;
      };
    },
    pull() {
      return new Promise((resolve) => {
        wake = resolve;
        port.postMessage({ pull: true });
      });
    },
    cancel() {
      // The person cancelled the download in the browser.
      port.postMessage({ cancelled: true });
    },
  });
}

function headersFor({ name, size }) {
  // RFC 6266: an ASCII fallback, then the real name in UTF-8 (RFC 8187).
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  const h = new Headers({
    // Never the sender's type: whatever it claims, this is a file to save, not to render.
    "Content-Type": "application/octet-stream",
    "Content-Disposition": `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`,
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
  });
  if (Number.isSafeInteger(size) && size >= 0) h.set("Content-Length", String(size));
  return h;
}
