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
 * Bidirectional controls and invisible characters, by code point: what
 * src/label.rs `deceptive` lists for labels, the list file names are held
 * to on both sides (tests/fixtures/file-names.json holds the two lists to
 * each other). `invoice\u202Egpj.exe` shows as "invoiceexe.jpg".
 */
const DECEPTIVE = [
  [0x00ad, 0x00ad, "SOFT HYPHEN"],
  [0x034f, 0x034f, "COMBINING GRAPHEME JOINER"],
  [0x061c, 0x061c, "ARABIC LETTER MARK"],
  [0x115f, 0x115f, "HANGUL CHOSEONG FILLER"],
  [0x1160, 0x1160, "HANGUL JUNGSEONG FILLER"],
  [0x17b4, 0x17b4, "KHMER VOWEL INHERENT AQ"],
  [0x17b5, 0x17b5, "KHMER VOWEL INHERENT AA"],
  [0x180e, 0x180e, "MONGOLIAN VOWEL SEPARATOR"],
  [0x200b, 0x200b, "ZERO WIDTH SPACE"],
  [0x200c, 0x200c, "ZERO WIDTH NON-JOINER"],
  [0x200d, 0x200d, "ZERO WIDTH JOINER"],
  [0x200e, 0x200e, "LEFT-TO-RIGHT MARK"],
  [0x200f, 0x200f, "RIGHT-TO-LEFT MARK"],
  [0x202a, 0x202a, "LEFT-TO-RIGHT EMBEDDING"],
  [0x202b, 0x202b, "RIGHT-TO-LEFT EMBEDDING"],
  [0x202c, 0x202c, "POP DIRECTIONAL FORMATTING"],
  [0x202d, 0x202d, "LEFT-TO-RIGHT OVERRIDE"],
  [0x202e, 0x202e, "RIGHT-TO-LEFT OVERRIDE"],
  [0x2060, 0x2060, "WORD JOINER"],
  [0x2061, 0x2061, "FUNCTION APPLICATION"],
  [0x2062, 0x2062, "INVISIBLE TIMES"],
  [0x2063, 0x2063, "INVISIBLE SEPARATOR"],
  [0x2064, 0x2064, "INVISIBLE PLUS"],
  [0x2066, 0x2066, "LEFT-TO-RIGHT ISOLATE"],
  [0x2067, 0x2067, "RIGHT-TO-LEFT ISOLATE"],
  [0x2068, 0x2068, "FIRST STRONG ISOLATE"],
  [0x2069, 0x2069, "POP DIRECTIONAL ISOLATE"],
  [0x206a, 0x206f, "DEPRECATED FORMAT CHARACTER"],
  [0x3164, 0x3164, "HANGUL FILLER"],
  [0xfeff, 0xfeff, "ZERO WIDTH NO-BREAK SPACE"],
  [0xffa0, 0xffa0, "HALFWIDTH HANGUL FILLER"],
  [0xfff9, 0xfffb, "INTERLINEAR ANNOTATION CHARACTER"],
];

/** "U+202E RIGHT-TO-LEFT OVERRIDE" when code point `cp` is a bidirectional control or invisible; else null. */
function deceptive(cp) {
  const hit = DECEPTIVE.find(([first, last]) => cp >= first && cp <= last);
  return hit ? `U+${cp.toString(16).toUpperCase().padStart(4, "0")} ${hit[2]}` : null;
}

// C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * The suffix `handoff get` gives a file while its pieces arrive
 * (`<name>.handoff-part`): a name with a part ending in it would clash with
 * another file's partial copy.
 */
export const PARTIAL_SUFFIX = ".handoff-part";

/**
 * Why a file name from a manifest (or a folder) must not be used, or null
 * when it is safe: a relative path with `/` between its parts, none of them
 * empty, `.` or `..`, none over 255 bytes, none ending in `.handoff-part`
 * (any letter case); no drive letter at its start, no backslash, no control
 * character, and no bidirectional control or invisible character. The same
 * rules as `check_name` in src/transfer.rs.
 */
export function unsafeNameReason(name) {
  if (typeof name !== "string" || name === "") return "it is empty";
  if (name.startsWith("/")) return "it is an absolute path";
  if (/^[A-Za-z]:/.test(name)) return "it starts with a drive letter";
  if (name.includes("\\")) return "it contains a backslash";
  if (CONTROL.test(name)) return "it contains a control character";
  for (const c of name) {
    const what = deceptive(c.codePointAt(0));
    if (what) return `it contains ${what}, an invisible character that can make a name read as another`;
  }
  for (const part of name.split("/")) {
    if (part === "") return "it has an empty folder name";
    if (part === "." || part === "..") return "it points outside its folder (\"..\")";
    if (utf8.encode(part).length > 255) return "a part of it is longer than 255 bytes";
    if (part.toLowerCase().endsWith(PARTIAL_SUFFIX)) return `a part of it ends in ${PARTIAL_SUFFIX}, the suffix of files still arriving`;
  }
  return null;
}

/** A name as the folders of Windows and macOS compare it: Unicode form C, lower case. */
const nameKey = (name) => name.normalize("NFC").toLowerCase();

/**
 * Why each of `names` (the names of one transfer, each safe by
 * unsafeNameReason) clashes with another, or null: the same name twice,
 * also when the two differ only in letter case or Unicode normalization
 * (one file in a Windows or macOS folder), or a name that is also a folder
 * of another (`a` and `a/b`, compared part by part the same way). Every name
 * of a clash is refused, as `check_names` in src/transfer.rs refuses the
 * whole list.
 */
export function nameClashes(names) {
  const keys = names.map((n) => (typeof n === "string" ? nameKey(n) : ""));
  const count = new Map();
  for (const k of keys) count.set(k, (count.get(k) ?? 0) + 1);
  const out = keys.map((k) => (k && count.get(k) > 1 ? "another file in the list has the same name (letter case aside)" : null));
  keys.forEach((k, i) => {
    if (!k) return;
    for (let at = k.indexOf("/"); at > 0; at = k.indexOf("/", at + 1)) {
      const folder = k.slice(0, at);
      if (!count.has(folder)) continue;
      out[i] ??= `one of its folders is also a file in the list (${names[keys.indexOf(folder)]})`;
      keys.forEach((other, j) => {
        if (other === folder) out[j] ??= "another file in the list is in a folder of this name";
      });
    }
  });
  return out;
}

/**
 * `name` with each control, bidirectional or invisible character written
 * out as ⟨U+202E⟩, for showing a refused name as what it is.
 */
export function visibleName(name) {
  let out = "";
  for (const c of String(name)) {
    const cp = c.codePointAt(0);
    out += CONTROL.test(c) || deceptive(cp) ? `⟨U+${cp.toString(16).toUpperCase().padStart(4, "0")}⟩` : c;
  }
  return out;
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

/**
 * Two byte counts written so that they read differently when they differ:
 * as formatBytes, or exactly ("20,004,112 bytes") where formatBytes would
 * round both to the same words.
 */
export function formatBytesApart(a, b) {
  const [x, y] = [formatBytes(a), formatBytes(b)];
  if (x !== y || a === b) return [x, y];
  const exact = (n) => `${n.toLocaleString("en")} bytes`;
  return [exact(a), exact(b)];
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
