// The sizes and names of file transfers as the browser computes them,
// against npm age-encryption itself and the protocol's rules.
// Run: node --test tests/browser/files-format.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";

import { Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";

import {
  PIECE_SIZE, fileCiphertextSize, formatBytes, pieceCiphertextSize, pieceRange, piecesOf, unsafeNameReason,
} from "../../static/js/files-format.js";

test("pieces of 4 MiB, an empty file being one piece", () => {
  assert.equal(PIECE_SIZE, 4_194_304);
  assert.equal(piecesOf(0), 1);
  assert.equal(piecesOf(1), 1);
  assert.equal(piecesOf(PIECE_SIZE), 1);
  assert.equal(piecesOf(PIECE_SIZE + 1), 2);
  assert.equal(piecesOf(200_000_000), 48);
  assert.deepEqual(pieceRange(200_000_000, 47), [47 * PIECE_SIZE, 200_000_000]);
});

test("the predicted ciphertext size is what age-encryption writes", async () => {
  const e = new Encrypter();
  e.addRecipient(await identityToRecipient(await generateX25519Identity()));
  const empty = (await e.encrypt(new Uint8Array(0))).length;
  for (const n of [0, 1, 65_535, 65_536, 65_537, 131_072, 1_000_000, PIECE_SIZE - 1, PIECE_SIZE]) {
    const real = (await e.encrypt(new Uint8Array(n))).length;
    assert.equal(pieceCiphertextSize(empty, n), real, `${n} bytes`);
  }
  // A full piece stays under the server's PIECE_CIPHERTEXT_MAX (4 MiB + 64 KiB).
  assert.ok(pieceCiphertextSize(empty, PIECE_SIZE) <= PIECE_SIZE + 65_536);
  assert.equal(fileCiphertextSize(empty, PIECE_SIZE + 10), pieceCiphertextSize(empty, PIECE_SIZE) + pieceCiphertextSize(empty, 10));
});

test("unsafe names are refused, safe ones kept", () => {
  for (const ok of ["a.txt", "certs/app.pem", "logs/2026-11/fw.csv", "été.pdf", "x".repeat(255), "a..b"]) {
    assert.equal(unsafeNameReason(ok), null, ok);
  }
  for (const bad of ["", "/etc/passwd", "../x", "a/../b", "a/./b", "./a", "a//b", "a/", "C:/x", "c:x", "a\\b",
    "nul\u0000.txt", "bell\u0007", "line\nbreak", "del\u007f", "c1\u0085", "sep\u2028", "x".repeat(256), "é".repeat(128)]) {
    assert.notEqual(unsafeNameReason(bad), null, JSON.stringify(bad));
  }
  assert.notEqual(unsafeNameReason(undefined), null);
  assert.notEqual(unsafeNameReason(42), null);
});

test("sizes read as people say them", () => {
  assert.equal(formatBytes(0), "0 bytes");
  assert.equal(formatBytes(1), "1 byte");
  assert.equal(formatBytes(999), "999 bytes");
  assert.equal(formatBytes(1500), "1.5 kB");
  assert.equal(formatBytes(200_000_000), "200 MB");
  assert.equal(formatBytes(1_073_741_824), "1.07 GB");
});
