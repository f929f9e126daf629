// The browser's credential checks against the cases src/credential.rs is
// held to, so that the page and the CLI can never disagree.
// Run: node --test tests/browser/credential.test.mjs

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { check, expiryNote, fieldsFromAzOutput, parseDate } from "../../static/js/credential.js";

const fixtures = JSON.parse(readFileSync(new URL("../fixtures/credential-checks.json", import.meta.url), "utf8"));

test("the fixture file has cases", () => {
  assert.ok(fixtures.cases.length >= 20, `only ${fixtures.cases.length} cases`);
});

for (const c of fixtures.cases) {
  test(`credential check: ${c.name}`, () => {
    const fields = { ...fixtures.base, ...c.set };
    const got = check(fields, fixtures.today);
    assert.deepEqual(got.map((f) => [f.field, f.level, f.code]), c.expect);
    for (const f of got) {
      assert.equal(typeof f.message, "string");
      assert.ok(f.message.length > 10, `${f.code} has no real message`);
    }
  });
}

test("messages are the same words as src/credential.rs", () => {
  // Every message the JS can produce appears verbatim in the Rust source.
  const rust = readFileSync(new URL("../../src/credential.rs", import.meta.url), "utf8");
  const samples = [
    { tenant_id: "" },
    { tenant_id: "a b" },
    { tenant_id: "'x'" },
    { tenant_id: "contoso.onmicrosoft.com" },
    { tenant_id: "contoso" },
    { client_id: "app" },
    { client_id: fixtures.base.tenant_id },
    { client_secret: "5f2b8c9a-1d3e-4f6a-8b7c-9d0e1f2a3b4c" },
    { client_secret: "x".repeat(101) },
    { client_secret: "short" },
    { secret_expires_on: "2027/01/01" },
    { secret_expires_on: "2020-01-01" },
    { secret_expires_on: "2030-01-01" },
    { secret_expires_on: "2299-12-31" },
    { cloud: "" },
  ];
  const codes = new Set();
  for (const set of samples) {
    for (const f of check({ ...fixtures.base, ...set }, fixtures.today)) {
      codes.add(f.code);
      assert.ok(rust.includes(JSON.stringify(f.message)), `message for ${f.code} differs from Rust: ${f.message}`);
    }
  }
  assert.equal(codes.size, 14, `expected all 14 codes, got ${[...codes]}`);
});

test("whitespace is Rust's char::is_whitespace, not JS's \\s", () => {
  const secret = fixtures.base.client_secret;
  // U+0085 (NEXT LINE) is whitespace in Rust but not in JS regexps.
  assert.deepEqual(check({ ...fixtures.base, client_secret: secret + "\u0085" }, fixtures.today).map((f) => f.code), ["whitespace"]);
  // U+FEFF is \s in JS but not whitespace in Rust: there it is just an odd character.
  assert.deepEqual(check({ ...fixtures.base, client_secret: secret + "\ufeff" }, fixtures.today).map((f) => f.code), ["secret_shape"]);
  assert.deepEqual(check({ ...fixtures.base, tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47\u00a0" }, fixtures.today).map((f) => f.code), ["whitespace"]);
});

test("too_long counts characters, not UTF-16 units", () => {
  const emoji = "\u{1F511}".repeat(60); // 60 characters, 120 UTF-16 units
  assert.deepEqual(check({ ...fixtures.base, client_secret: emoji }, fixtures.today).map((f) => f.code), ["secret_shape"]);
  assert.deepEqual(check({ ...fixtures.base, client_secret: "\u{1F511}".repeat(101) }, fixtures.today).map((f) => f.code), ["too_long"]);
});

test("24 months later clamps to the month's end", () => {
  const base = { ...fixtures.base };
  const codes = (expires, today) => check({ ...base, secret_expires_on: expires }, today).map((f) => f.code);
  assert.deepEqual(codes("2028-02-29", "2026-02-28"), ["date_far"]);
  assert.deepEqual(codes("2028-02-28", "2026-02-28"), []);
  // 2026-08-31 + 24 months is 2028-08-31; 2024-02-29 + 24 months is 2026-02-28.
  assert.deepEqual(codes("2028-08-31", "2026-08-31"), []);
  assert.deepEqual(codes("2026-02-28", "2024-02-29"), []);
  assert.deepEqual(codes("2026-03-01", "2024-02-29"), ["date_far"]);
});

test("expiryNote speaks only of legal but long expiries, as the PM's views show them", () => {
  const code = (expires) => expiryNote(expires, fixtures.today)?.code ?? null;
  assert.equal(code("2299-12-31"), "date_never");
  assert.match(expiryNote("2299-12-31", fixtures.today).message, /never expires/);
  assert.equal(code("2029-11-22"), "date_far");
  assert.equal(expiryNote("2029-11-22", fixtures.today).level, "warning");
  assert.equal(code("2028-11-22"), null);
  assert.equal(code("2026-01-01"), null, "a past date is not this note's business");
  assert.equal(code("2029/11/22"), null);
  assert.equal(code(undefined), null);
});

test("dates are parsed like Rust's parse_date", () => {
  assert.deepEqual(parseDate("2027-06-30"), { y: 2027, m: 6, d: 30 });
  assert.equal(parseDate("2027-02-29"), null);
  assert.deepEqual(parseDate("2028-02-29"), { y: 2028, m: 2, d: 29 });
  assert.equal(parseDate("2027-13-01"), null);
  assert.equal(parseDate("2027-00-10"), null);
  assert.equal(parseDate("2027-6-30"), null);
  assert.equal(parseDate(" 2027-06-3"), null);
  assert.equal(parseDate("2027-06-30T"), null);
  assert.equal(parseDate("abcd-ef-gh"), null);
  // str::parse accepts a sign: Rust reads these, so the browser does too.
  assert.deepEqual(parseDate("2027-+6-30"), { y: 2027, m: 6, d: 30 });
  assert.equal(parseDate("2027--6-30"), null);
});

test("check refuses a malformed today", () => {
  assert.throws(() => check(fixtures.base, "today"));
});

test("fieldsFromAzOutput reads what az ad app credential reset prints", () => {
  const out = `{
  "appId": "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d",
  "password": "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_",
  "tenant": "72f988bf-86f1-41af-91ab-2d7cd011db47"
}
`;
  assert.deepEqual(fieldsFromAzOutput(out), {
    tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47",
    client_id: "0b6c3d1e-5a4f-4e8b-9c2d-7e1f0a3b5c6d",
    client_secret: "Abc8Q~dEfGhIjKlMnOpQrStUvWxYz0123456789_",
  });
  // Pasted into a one-line input, the line breaks are gone: still the same JSON.
  assert.deepEqual(fieldsFromAzOutput(out.replace(/\n/g, "")), fieldsFromAzOutput(out));
  // az's warning, copied along on its own line or run together with the JSON.
  const warning = "WARNING: The output includes credentials that you must protect. Be sure that you do not include these credentials in your code or check the credentials into your source control. For more information, see https://aka.ms/azadsp-cli";
  assert.deepEqual(fieldsFromAzOutput(`${warning}\n${out}`), fieldsFromAzOutput(out));
  assert.deepEqual(fieldsFromAzOutput(warning + out.replace(/\n/g, "")), fieldsFromAzOutput(out));
  // The fields it fills pass the checks.
  const filled = { ...fieldsFromAzOutput(out), secret_expires_on: "2027-06-30", cloud: "commercial" };
  assert.deepEqual(check(filled, fixtures.today), []);
});

test("fieldsFromAzOutput ignores everything else", () => {
  for (const text of [
    "", "not json", "72f988bf-86f1-41af-91ab-2d7cd011db47", "null", "[]", "\"appId\"",
    '{"appId": "x"}',
    '{"appId": "x", "password": "y"}',
    '{"appId": "x", "password": 5, "tenant": "z"}',
    '{"appId": "x", "password": "y", "tenant": "z"',
    'tenant {"appId": "x", "password": "y", "tenant": "z"}',
    'ERROR: x\n{"appId": "x", "password": "y", "tenant": "z"}',
  ]) {
    assert.equal(fieldsFromAzOutput(text), null, `should ignore ${JSON.stringify(text)}`);
  }
  assert.equal(fieldsFromAzOutput(undefined), null);
});
