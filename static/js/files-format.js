// What the send and receive pages share about a file transfer: how a file is
// cut into pieces, how large each encrypted piece is, which names a reader
// refuses, and how sizes and speeds are written for people. The format
// itself is described in the README ("Formats, for other clients").

/** Plaintext bytes per piece: piece p of a file holds [p·PIECE_SIZE, (p+1)·PIECE_SIZE). */
export const PIECE_SIZE = 4 * 1024 * 1024;

/** age's STREAM: 64 KiB of plaintext per chunk, 16 bytes of tag on each, and at least one chunk. */
const CHUNK = 64 * 1024;
const TAG = 16;

/** Most files a transfer may hold (the server refuses more too). */
export const MAX_FILES = 1000;

/** Without a service worker a file is put together in memory; above this size that is refused. */
export const BLOB_LIMIT = 256 * 1024 * 1024;

/** How many pieces a file of `size` bytes has: an empty file has one, of zero bytes. */
export const piecesOf = (size) => Math.max(1, Math.ceil(size / PIECE_SIZE));

/** The plaintext byte range [start, end) of piece `p` of a file of `size` bytes. */
export function pieceRange(size, p) {
  const start = p * PIECE_SIZE;
  return [start, Math.min(size, start + PIECE_SIZE)];
}

/**
 * The ciphertext size of one piece holding `length` plaintext bytes, where
 * `emptyPiece` is the size of an age file of zero bytes to the same
 * recipients (its header, its 16-byte nonce and one empty chunk's tag): the
 * header does not depend on the contents, so it is measured once.
 */
export function pieceCiphertextSize(emptyPiece, length) {
  return emptyPiece - TAG + length + TAG * Math.max(1, Math.ceil(length / CHUNK));
}

/** The ciphertext size of a whole file of `size` bytes: the sum over its pieces. */
export function fileCiphertextSize(emptyPiece, size) {
  let total = 0;
  for (let p = 0; p < piecesOf(size); p++) {
    const [start, end] = pieceRange(size, p);
    total += pieceCiphertextSize(emptyPiece, end - start);
  }
  return total;
}

const utf8 = new TextEncoder();

/** The manifest format this page writes and reads (README "File transfers"). */
export const MANIFEST_VERSION = 2;

/** HKDF's `info` prefix for a piece's key; the file and piece numbers follow as big-endian 32-bit integers. */
const PIECE_KEY_INFO = utf8.encode("handoff transfer piece\0");

/**
 * The identity (AGE-SECRET-KEY-1…) that piece `p` of file `f` is encrypted
 * to, derived from the transfer's `identity`: HKDF-SHA-256 (WebCrypto) of
 * its 32 bytes, no salt, `info` = "handoff transfer piece", a zero byte,
 * `f` and `p` as big-endian 32-bit integers; 32 bytes spelled as an age
 * X25519 identity. The same as `piece_identity` in src/transfer.rs, so a
 * piece decrypts only in its own place. `bech32` is @scure/base's (the
 * bundle's), passed in so that Node's tests can run this module.
 */
export async function pieceIdentity(bech32, identity, f, p) {
  const { bytes } = bech32.decodeToBytes(identity);
  const info = new Uint8Array(PIECE_KEY_INFO.length + 8);
  info.set(PIECE_KEY_INFO);
  const numbers = new DataView(info.buffer, PIECE_KEY_INFO.length);
  numbers.setUint32(0, f);
  numbers.setUint32(4, p);
  const ikm = await crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveBits"]);
  const okm = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, ikm, 256);
  return bech32.encodeFromBytes("AGE-SECRET-KEY-", new Uint8Array(okm)).toUpperCase();
}

/**
 * Why a file name from a manifest (or a folder) must not be used, or null
 * when it is safe: a relative path with `/` between its parts, none of them
 * empty, `.` or `..`, no backslash, no control character, no drive letter,
 * and no part over 255 bytes.
 */
export function unsafeNameReason(name) {
  if (typeof name !== "string" || name === "") return "it is empty";
  if (name.startsWith("/")) return "it is an absolute path";
  if (/^[A-Za-z]:/.test(name)) return "it starts with a drive letter";
  if (name.includes("\\")) return "it contains a backslash";
  // C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(name)) return "it contains a control character";
  for (const part of name.split("/")) {
    if (part === "") return "it has an empty folder name";
    if (part === "." || part === "..") return "it points outside its folder (\"..\")";
    if (utf8.encode(part).length > 255) return "a part of it is longer than 255 bytes";
  }
  return null;
}

/** The last part of a relative path: what a browser download is called. */
export const baseName = (name) => name.slice(name.lastIndexOf("/") + 1);

/** Bytes as people read them: "950 bytes", "4.2 MB", "1.07 GB" (powers of 1000, as file managers show). */
export function formatBytes(n) {
  if (n < 1000) return `${n} ${n === 1 ? "byte" : "bytes"}`;
  const units = ["kB", "MB", "GB", "TB"];
  let value = n;
  let unit = -1;
  do {
    value /= 1000;
    unit += 1;
  } while (value >= 1000 && unit < units.length - 1);
  return `${value.toLocaleString("en", { maximumFractionDigits: value < 10 ? 2 : value < 100 ? 1 : 0 })} ${units[unit]}`;
}

/** A duration in seconds as people say it: "12 s", "3 min", "1 h 5 min". */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  const h = Math.floor(s / 3600);
  const m = Math.round((s % 3600) / 60);
  return m ? `${h} h ${m} min` : `${h} h`;
}

/**
 * Measures throughput for a progress line: `add(bytes)` as they are done,
 * `line(total)` for "12 MB of 200 MB · 25 MB/s · about 8 s left". The speed
 * is over the last few seconds, so that a stall shows.
 */
export class Progress {
  constructor(total, done = 0) {
    this.total = total;
    this.done = done;
    this.samples = [[performance.now(), done]];
  }

  /** Records `bytes` more as done (final), with `partial` bytes of work under way on top. */
  add(bytes) {
    this.done += bytes;
    this.sample();
  }

  sample(partial = 0) {
    const now = performance.now();
    this.samples.push([now, this.done + partial]);
    while (this.samples.length > 2 && now - this.samples[1][0] > 5000) this.samples.shift();
  }

  /** Bytes per second over the window, or 0 before there is one. */
  speed() {
    const [t0, b0] = this.samples[0];
    const [t1, b1] = this.samples[this.samples.length - 1];
    return t1 - t0 > 300 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }

  line(partial = 0) {
    const done = Math.min(this.total, this.done + partial);
    const parts = [`${formatBytes(done)} of ${formatBytes(this.total)}`];
    const speed = this.speed();
    if (speed > 0) {
      parts.push(`${formatBytes(Math.round(speed))}/s`);
      parts.push(`about ${formatDuration((this.total - done) / speed)} left`);
    }
    return parts.join(" · ");
  }
}

/**
 * Waits `ms`, in steps of a second, calling `tick(secondsLeft)` each time:
 * for "Connection lost; trying again in 4 s".
 */
export async function countdown(ms, tick) {
  for (let left = Math.ceil(ms / 1000); left > 0; left--) {
    tick(left);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** The wait before retry number `attempt` (0-based): 1, 2, 4, 8, 16, then 30 seconds. */
export const backoff = (attempt) => Math.min(30_000, 1000 * 2 ** attempt);

/** A GET with a bearer token: `{ok, status, data}` as postJson gives. */
export async function getJson(url, token) {
  let res;
  try {
    res = await fetch(url, { headers: { Accept: "application/json", Authorization: `Bearer ${token}` } });
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
