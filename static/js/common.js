// What the create and reveal pages share: the link's key format, base64,
// talking to the API, copy buttons and the secure-context check.

// The forms of the key after '#' (see src/link.rs, which reads and writes the
// same): the X25519 identity itself, or, with a passphrase, that identity
// encrypted to an age scrypt recipient (lock.js describes both locked forms).
export const IDENTITY_PREFIX = "AGE-SECRET-KEY-1";
export const LOCKED_PREFIX = "scrypt.";
export const COMPACT_PREFIX = "p1.";

export const $ = (id) => document.getElementById(id);

/**
 * WebCrypto exists only in secure contexts (HTTPS, or this machine). Without
 * it nothing can be encrypted, so say so plainly and switch `controls` off
 * instead of failing with an obscure error on submit.
 */
export function requireSecureContext(...controls) {
  if (window.isSecureContext && globalThis.crypto?.subtle) return true;
  $("insecure-banner").hidden = false;
  for (const c of controls) if (c) c.disabled = true;
  return false;
}

/** The key in a link's fragment, or null when it is missing or malformed. */
export function parseFragment(hash) {
  const fragment = hash.startsWith("#") ? hash.slice(1) : hash;
  for (const prefix of [COMPACT_PREFIX, LOCKED_PREFIX]) {
    if (!fragment.startsWith(prefix)) continue;
    const file = fromBase64Url(fragment.slice(prefix.length));
    return file && file.length > 0 ? { locked: true, fragment } : null;
  }
  // Bech32 is letters and digits only; anything else was damaged on the way.
  if (/^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(fragment)) return { locked: false, identity: fragment };
  return null;
}

/**
 * The key of the link this page was opened with, or null. A mail gateway
 * (Microsoft Safe Links does this) may rewrite the link's `#` to `%23`, which
 * puts the key into the path; the server then serves this page for the id
 * alone. The key is moved back into the fragment at once, with
 * history.replaceState (no request, nothing consumed), so that the address
 * bar, history and anything copied from it carry it where it belongs.
 */
export function linkKey() {
  const at = location.pathname.search(/%23/i);
  if (at >= 0) {
    let fragment = location.hash.slice(1);
    if (!fragment) {
      try {
        fragment = decodeURIComponent(location.pathname.slice(at + 3));
      } catch {
        fragment = "";
      }
    }
    history.replaceState(null, "", `${location.pathname.slice(0, at)}${location.search}${fragment ? `#${fragment}` : ""}`);
  }
  return parseFragment(location.hash);
}

/**
 * Locks or unlocks a link's key with a passphrase (lock.js) in a Web Worker,
 * so that scrypt's second of work does not freeze the page: `progress` (a
 * <progress> without a value, which browsers animate as "working") is shown
 * meanwhile. `message` is {op: "lock", identity, passphrase} or {op: "unlock",
 * fragment, passphrase}; resolves to the fragment or identity, rejects with
 * an Error. Where module workers are missing (older browsers) the same code
 * runs on the page instead, which then pauses for that second.
 */
export async function inLockWorker(message, progress) {
  if (progress) progress.hidden = false;
  try {
    return await new Promise((resolve, reject) => {
      let worker;
      const onPage = async () => {
        worker?.terminate();
        await nextPaint();
        const { lock, unlock } = await import("/assets/lock.js");
        return message.op === "lock"
          ? lock(message.identity, message.passphrase)
          : unlock(message.fragment, message.passphrase);
      };
      try {
        worker = new Worker("/assets/lock-worker.js", { type: "module" });
      } catch {
        onPage().then(resolve, reject);
        return;
      }
      worker.onmessage = ({ data }) => {
        worker.terminate();
        if (data.ok) resolve(data.value);
        else reject(new Error(data.message));
      };
      worker.onerror = (e) => {
        e.preventDefault();
        onPage().then(resolve, reject);
      };
      worker.postMessage(message);
    });
  } finally {
    if (progress) progress.hidden = true;
  }
}

// Built on btoa/atob over binary strings: small inputs (a secret is a few KB),
// and no dependency on Uint8Array.toBase64, which older browsers lack.
export function toBase64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

export function fromBase64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Unpadded base64url to bytes, or null if it is not that. */
export function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  try {
    return fromBase64(text.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return null;
  }
}

/**
 * POSTs `body` (JSON, or nothing) and returns `{ok, status, data}`. API errors
 * are `{"error", "message"}`; `message` is a sentence meant for people, so
 * callers show it as it is. A network failure or a non-JSON answer (a proxy's
 * error page) becomes a message of our own rather than an exception.
 */
export async function postJson(url, body, headers = {}) {
  const init = { method: "POST", headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    return { ok: false, status: 0, data: { message: "The server could not be reached. Check your connection and try again." } };
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok && typeof data?.message !== "string") {
    data = { message: `The server answered ${res.status} ${res.statusText}. Try again in a moment.` };
  }
  return { ok: res.ok, status: res.status, data };
}

/**
 * Makes `button` copy what `text()` returns, and say so briefly. The
 * clipboard API needs permission and focus; when it refuses, a hidden
 * textarea and execCommand still work in most browsers. (Selecting the field
 * itself would not: browsers will not copy from a password input.)
 */
export function wireCopy(button, text) {
  const label = button.textContent;
  let timer;
  button.addEventListener("click", async () => {
    const value = text();
    let copied = false;
    try {
      await navigator.clipboard.writeText(value);
      copied = true;
    } catch {
      copied = copyWithSelection(value);
    }
    button.textContent = copied ? "Copied" : "Copy failed: select and copy by hand";
    button.classList.toggle("done", copied);
    clearTimeout(timer);
    timer = setTimeout(() => {
      button.textContent = label;
      button.classList.remove("done");
    }, 1500);
  });
}

function copyWithSelection(value) {
  const area = document.createElement("textarea");
  area.value = value;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** Takes the key out of the address bar and history entry once it has done its job. */
export function forgetKey() {
  history.replaceState(null, "", location.pathname + location.search);
}

/**
 * Runs `action` when `form` is submitted, one at a time: `button` is disabled
 * meanwhile and gets its label back afterwards, and an exception becomes a
 * message in `errorBox`. `ready()` says whether submitting makes sense now.
 */
export function onSubmit(form, button, errorBox, ready, action) {
  const label = button.textContent;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!ready() || button.disabled) return;
    showError(errorBox, "");
    button.disabled = true;
    try {
      await action();
    } catch (e) {
      showError(errorBox, `Something went wrong in this browser: ${e?.message ?? e}`);
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  });
}

/** Shows `message` in the banner `el`, or hides it for an empty message. */
export function showError(el, message) {
  el.textContent = message || "";
  el.hidden = !message;
}

/** Lets the browser paint (a "Working…" label) before a long synchronous step such as scrypt. */
export const nextPaint = () => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

/** A local, readable form of an RFC 3339 time. */
export function formatTime(rfc3339) {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return rfc3339;
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/**
 * How far `date` is from `now`, as people say it: "just now", "5 min ago",
 * "3 h ago", "in 2 days".
 */
export function relativeTime(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 60) return "just now";
  let amount;
  if (abs < 3600) amount = `${Math.floor(abs / 60)} min`;
  else if (abs < 86_400) amount = `${Math.floor(abs / 3600)} h`;
  else {
    const days = Math.floor(abs / 86_400);
    amount = `${days} ${days === 1 ? "day" : "days"}`;
  }
  return seconds < 0 ? `${amount} ago` : `in ${amount}`;
}

// Pages render times as RFC 3339 (the server does not know the reader's time
// zone); show them in the reader's own. Runs on every page that loads this module.
// A date without a time (YYYY-MM-DD, a secret's expiry day) is a calendar
// day, not an instant: it is shown as written, never moved into a time zone.
// A `data-relative` time (the dashboard's) says how long ago it was, with
// the exact local time on hover.
for (const t of document.querySelectorAll("time[datetime]")) {
  if (/^\d{4}-\d{2}-\d{2}$/.test(t.dateTime)) continue;
  const exact = formatTime(t.dateTime);
  if (t.hasAttribute("data-relative") && !Number.isNaN(new Date(t.dateTime).getTime())) {
    t.title = exact;
    t.textContent = relativeTime(new Date(t.dateTime));
  } else {
    t.title = t.dateTime;
    t.textContent = exact;
  }
}

// A Copy button with `data-copy-from="ID"` copies that input's value, on any
// page that loads this module.
for (const b of document.querySelectorAll("button[data-copy-from]")) {
  wireCopy(b, () => $(b.dataset.copyFrom).value);
}

// A Copy button with `data-copy-text` copies that text. It is hidden in the
// page, since without this script it could do nothing.
for (const b of document.querySelectorAll("button[data-copy-text]")) {
  wireCopy(b, () => b.dataset.copyText);
  b.hidden = false;
}
