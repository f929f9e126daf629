// Locking a link's key with a passphrase, and unlocking it: the work of
// lock-worker.js, kept free of the page (no DOM) so that the worker can run it.
//
// A locked key is an age file encrypted to an age scrypt recipient (the
// passphrase). Two forms exist after '#' (src/link.rs reads and writes the
// same):
//
// - "scrypt." + the whole age file in base64url, holding the identity's text
//   (74 characters). Made by builds before the compact form; still opened.
// - "p1." + the compact form: only the variable parts of that age file, in
//   base64url, holding the identity's 32 bytes. Every age header with one
//   scrypt stanza is the same text around those parts (age's format is
//   canonical: unpadded base64, a 32-byte body on one line), so the reader
//   rebuilds the exact file and age checks its MAC and tag as usual.
//
//   bytes  0      log2 of scrypt's N (the work factor)
//          1–16   the stanza's salt
//          17–48  the stanza's body: the file key, wrapped (16 + 16 tag)
//          49–80  the header's MAC
//          81–    the payload: nonce (16) and the one sealed chunk (32 + 16)

import { Decrypter, Encrypter, bech32 } from "/assets/age.js";

export const LOCKED_PREFIX = "scrypt.";
export const COMPACT_PREFIX = "p1.";

/**
 * scrypt's work factor (log2 N, r = 8, p = 1) for new links: 2^16 takes 64 MiB
 * and, in this browser code (pure JavaScript scrypt), about a second on a
 * laptop. src/link.rs writes the same; README "Passphrases" says why.
 */
export const WORK_FACTOR = 16;

const HEADER = /^age-encryption\.org\/v1\n-> scrypt ([A-Za-z0-9+/]{22}) ([1-9][0-9]?)\n([A-Za-z0-9+/]{43})\n--- ([A-Za-z0-9+/]{43})\n$/;
const SECRET_KEY_HRP = "AGE-SECRET-KEY-";

const b64 = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/=+$/, "");
const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

export function toBase64Url(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Unpadded base64url to bytes, or null if it is not that. */
export function fromBase64Url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  try {
    return unb64(text.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return null;
  }
}

/** The compact form of an age file with one scrypt stanza, or an exception. */
export function compact(file) {
  const end = indexOf(file, "\n--- ");
  const headerEnd = end < 0 ? -1 : file.indexOf(10, end + 5);
  if (headerEnd < 0) throw new Error("not an age file");
  const header = new TextDecoder().decode(file.subarray(0, headerEnd + 1));
  const m = HEADER.exec(header);
  if (!m) throw new Error("not an age file with one scrypt stanza");
  const payload = file.subarray(headerEnd + 1);
  const out = new Uint8Array(81 + payload.length);
  out[0] = Number(m[2]);
  out.set(unb64(m[1]), 1);
  out.set(unb64(m[3]), 17);
  out.set(unb64(m[4]), 49);
  out.set(payload, 81);
  return out;
}

/** The age file a compact form stands for (nothing is checked here: age does that). */
export function expand(bytes) {
  if (bytes.length < 81 + 16) throw new Error("the locked key is too short");
  const header = `age-encryption.org/v1\n-> scrypt ${b64(bytes.subarray(1, 17))} ${bytes[0]}\n`
    + `${b64(bytes.subarray(17, 49))}\n--- ${b64(bytes.subarray(49, 81))}\n`;
  const head = new TextEncoder().encode(header);
  const file = new Uint8Array(head.length + bytes.length - 81);
  file.set(head);
  file.set(bytes.subarray(81), head.length);
  return file;
}

function indexOf(bytes, text) {
  const needle = new TextEncoder().encode(text);
  outer: for (let i = 0; i + needle.length <= bytes.length; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** The fragment that carries `identity` (AGE-SECRET-KEY-1…) locked with `passphrase`. */
export async function lock(identity, passphrase, workFactor = WORK_FACTOR) {
  const { prefix, bytes } = bech32.decodeToBytes(identity);
  if (prefix.toUpperCase() !== SECRET_KEY_HRP || bytes.length !== 32) throw new Error("not an X25519 identity");
  const e = new Encrypter();
  e.setPassphrase(passphrase);
  e.setScryptWorkFactor(workFactor);
  return COMPACT_PREFIX + toBase64Url(compact(await e.encrypt(bytes)));
}

/**
 * The identity a locked fragment holds, or an exception (wrong passphrase,
 * damaged key). `fragment` starts with COMPACT_PREFIX or LOCKED_PREFIX.
 */
export async function unlock(fragment, passphrase) {
  const isCompact = fragment.startsWith(COMPACT_PREFIX);
  const bytes = fromBase64Url(fragment.slice(isCompact ? COMPACT_PREFIX.length : LOCKED_PREFIX.length));
  if (!bytes) throw new Error("damaged");
  const d = new Decrypter();
  d.addPassphrase(passphrase);
  if (!isCompact) return (await d.decrypt(bytes, "text")).trim();
  const raw = await d.decrypt(expand(bytes));
  if (raw.length !== 32) throw new Error("damaged");
  return bech32.encodeFromBytes(SECRET_KEY_HRP, raw).toUpperCase();
}
