// The sizes and names of file transfers as the browser computes them,
// against npm age-encryption itself and the protocol's rules.
// Run: node --test tests/browser/files-format.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { bech32 } from "@scure/base";
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from "age-encryption";

import {
  PIECE_SIZE, fileCiphertextSize, formatBytes, formatBytesApart, nameClashes, pieceCiphertextSize, pieceIdentity,
  pieceRange, piecesOf, unsafeNameReason, visibleName,
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

const shared = JSON.parse(readFileSync(new URL("../fixtures/file-names.json", import.meta.url), "utf8"));

test("names follow the cases src/transfer.rs is held to", () => {
  assert.ok(shared.names.length >= 40, `only ${shared.names.length} cases`);
  for (const [name, ok] of shared.names) {
    assert.equal(unsafeNameReason(name) === null, ok, `${JSON.stringify(name)}: ${unsafeNameReason(name)}`);
  }
  assert.notEqual(unsafeNameReason(undefined), null);
  assert.notEqual(unsafeNameReason(42), null);
});

test("the refused characters are exactly src/transfer.rs's", () => {
  const ranges = [];
  let open = null;
  const hex = (n) => n.toString(16).toUpperCase().padStart(4, "0");
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue; // not characters: Rust's char skips them too
    const refused = unsafeNameReason(`ab${String.fromCodePoint(cp)}cd`) !== null;
    if (open && refused && open[1] + 1 === cp) open[1] = cp;
    else {
      if (open) ranges.push(open.map(hex));
      open = refused ? [cp, cp] : null;
    }
  }
  if (open) ranges.push(open.map(hex));
  assert.deepEqual(ranges, shared.refused_characters);
});

test("a refused character is named, and shown when the name is", () => {
  assert.match(unsafeNameReason("invoice\u202Egpj.exe"), /U\+202E RIGHT-TO-LEFT OVERRIDE/);
  assert.equal(visibleName("invoice\u202Egpj.exe"), "invoice⟨U+202E⟩gpj.exe");
  assert.equal(visibleName("bell\u0007.txt"), "bell⟨U+0007⟩.txt");
  assert.equal(visibleName("été.pdf"), "été.pdf");
});

test("names that clash in one folder are refused, every one of them", () => {
  for (const { names, refused } of shared.lists) {
    const got = nameClashes(names);
    assert.equal(got.length, names.length);
    assert.deepEqual(got.flatMap((why, i) => (why ? [i] : [])), refused, JSON.stringify(names));
  }
  assert.deepEqual(nameClashes(["a/b", "a"]), [
    "one of its folders is also a file in the list (a)",
    "another file in the list is in a folder of this name",
  ]);
});

test("byte counts that differ read differently", () => {
  assert.deepEqual(formatBytesApart(30_009_000, 20_000_000), ["30 MB", "20 MB"]);
  assert.deepEqual(formatBytesApart(20_004_112, 20_000_000), ["20,004,112 bytes", "20,000,000 bytes"]);
  assert.deepEqual(formatBytesApart(5, 5), ["5 bytes", "5 bytes"]);
});

test("sizes read as people say them", () => {
  assert.equal(formatBytes(0), "0 bytes");
  assert.equal(formatBytes(1), "1 byte");
  assert.equal(formatBytes(999), "999 bytes");
  assert.equal(formatBytes(1500), "1.5 kB");
  assert.equal(formatBytes(200_000_000), "200 MB");
  assert.equal(formatBytes(1_073_741_824), "1.07 GB");
});

test("piece keys follow the derivation src/transfer.rs uses (its test vector)", async () => {
  const transfer = bech32.encodeFromBytes("AGE-SECRET-KEY-", Uint8Array.from({ length: 32 }, (_, i) => i)).toUpperCase();
  assert.equal(transfer, "AGE-SECRET-KEY-1QQQSYQCYQ5RQWZQFPG9SCRGWPUGPZYSNZS23V9CCRYDPK8QARC0SWRYDWG");
  assert.equal(
    await pieceIdentity(bech32, transfer, 0, 0),
    "AGE-SECRET-KEY-1ZQ5Z8K2C923U52M4TYHJD9GVDKHMUJQVHLTGCTSF84L6G0ZGR2NSNV50VQ",
  );
  assert.equal(
    await pieceIdentity(bech32, transfer, 2, 7),
    "AGE-SECRET-KEY-1RAG43EGN9TYRHJ9QVAAUCFP4U0QNLYXN2AQCM66PPYMEYA886WCSU62V2R",
  );
});

test("a piece opens only in its own place", async () => {
  const transfer = await generateX25519Identity();
  const e = new Encrypter();
  e.addRecipient(await identityToRecipient(await pieceIdentity(bech32, transfer, 1, 3)));
  const sealed = await e.encrypt("piece 3 of file 1");
  const open = async (identity) => {
    const d = new Decrypter();
    d.addIdentity(identity);
    return d.decrypt(sealed, "text");
  };
  assert.equal(await open(await pieceIdentity(bech32, transfer, 1, 3)), "piece 3 of file 1");
  for (const [f, p] of [[1, 4], [3, 1], [0, 3]]) {
    await assert.rejects(open(await pieceIdentity(bech32, transfer, f, p)), `opened as ${f}/${p}`);
  }
  await assert.rejects(open(transfer), "opened with the transfer's own key");
});
