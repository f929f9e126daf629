// Checks on an Entra ID app registration's credentials, before they are sent.
//
// A line-for-line twin of src/credential.rs: the browser warns while the admin
// types, the CLI warns before it sends, and both must say the same thing. The
// cases in tests/fixtures/credential-checks.json hold both to it. Pure
// functions only (no DOM), so that Node can test this module as it is.

export const CLOUDS = ["commercial", "gcc", "gcc-high", "dod", "china"];

const finding = (field, level, code, message) => ({ field, level, code, message });

/**
 * Every finding for `fields` (an object of strings), errors and warnings, in
 * field order. `today` is "YYYY-MM-DD": the caller decides which day it is, so
 * the rules stay testable.
 */
export function check(fields, today) {
  const get = (name) => (typeof fields[name] === "string" ? fields[name] : "");
  const todayDate = parseDate(today);
  if (!todayDate) throw new Error(`check: today must be YYYY-MM-DD, not ${JSON.stringify(today)}`);
  const out = [];
  const tenant = get("tenant_id");
  const client = get("client_id");

  const tenantCommon = common("tenant_id", tenant);
  if (tenantCommon) {
    out.push(tenantCommon);
  } else if (!isGuid(tenant)) {
    out.push(isDomain(tenant)
      ? finding("tenant_id", "warning", "tenant_domain",
        "This is a tenant domain, not its ID. It works for sign-in, but the Office 365 Management API needs the Directory (tenant) ID GUID from the app's Overview page; please send that if you can.")
      : finding("tenant_id", "error", "not_guid",
        "The Directory (tenant) ID is a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47; copy it from the app registration's Overview page."));
  }

  const clientCommon = common("client_id", client);
  if (clientCommon) {
    out.push(clientCommon);
  } else if (!isGuid(client)) {
    out.push(finding("client_id", "error", "not_guid",
      "The Application (client) ID is a GUID; copy it from the app registration's Overview page."));
  } else if (client.toLowerCase() === tenant.toLowerCase()) {
    out.push(finding("client_id", "error", "same_as_tenant",
      "This is the tenant ID again; the Application (client) ID is the other GUID on the app registration's Overview page."));
  }

  const secret = get("client_secret");
  const secretCommon = common("client_secret", secret);
  if (secretCommon) {
    out.push(secretCommon);
  } else if (isGuid(secret)) {
    out.push(finding("client_secret", "error", "secret_is_guid",
      "This is the Secret ID, not the secret. Under Certificates & secrets, copy the Value column instead; if it is no longer shown, create a new client secret."));
  } else if ([...secret].length > 100) {
    // Counted in code points, as Rust's chars().count() does.
    out.push(finding("client_secret", "error", "too_long",
      "A client secret value is at most a few dozen characters; check that only the Value was copied."));
  } else if (!looksLikeCurrentSecret(secret)) {
    out.push(finding("client_secret", "warning", "secret_shape",
      "This does not look like a current client secret value (40 characters containing Q~). If the secret is older it may be right; otherwise copy the whole Value column again."));
  }

  const expires = get("secret_expires_on");
  const expiresCommon = common("secret_expires_on", expires);
  if (expiresCommon) {
    out.push(expiresCommon);
  } else {
    const d = parseDate(expires);
    if (!d) {
      out.push(finding("secret_expires_on", "error", "date_format",
        "Give the secret's expiry date as YYYY-MM-DD, as shown in the Expires column under Certificates & secrets."));
    } else if (compareDates(d, todayDate) < 0) {
      out.push(finding("secret_expires_on", "error", "date_past",
        "This secret has already expired; create a new client secret and send its value."));
    } else {
      const long = longExpiry(d, todayDate);
      if (long) out.push(long);
    }
  }

  if (!CLOUDS.includes(get("cloud"))) {
    out.push(finding("cloud", "error", "cloud_unknown",
      "Choose the cloud the tenant lives in: commercial, gcc, gcc-high, dod or china."));
  }
  return out;
}

// The date Entra ID stores for a secret that never expires (the old portal's
// "Never"; Graph and PowerShell can still set it).
const NEVER = { y: 2299, m: 12, d: 31 };

// The warning for a secret valid for more than 24 months, or for ever: legal
// (az --years N, PowerShell and Graph set any end date), so never an error.
function longExpiry(expires, todayDate) {
  if (compareDates(expires, NEVER) === 0) {
    return finding("secret_expires_on", "warning", "date_never",
      "2299-12-31 means this secret never expires (it is the date Entra ID records for no end date). That is accepted, but Microsoft recommends secrets that expire in under 12 months; consider replacing it with one that does.");
  }
  if (compareDates(expires, monthsLater(todayDate, 24)) > 0) {
    return finding("secret_expires_on", "warning", "date_far",
      "This secret is valid for more than 24 months. That is accepted (az, PowerShell and Graph allow it; the portal offers at most 24), but Microsoft recommends secrets that expire in under 12 months; check the date in the Expires column.");
  }
  return null;
}

/**
 * The warning to show beside a secret's expiry date (`YYYY-MM-DD`) on `today`
 * when it is more than 24 months away or the "never" date; null otherwise,
 * and for anything that is not a date.
 */
export function expiryNote(expires, today) {
  const d = parseDate(expires);
  const todayDate = parseDate(today);
  return d && todayDate ? longExpiry(d, todayDate) : null;
}

// Rust's char::is_whitespace (Unicode White_Space). Not JS's \s, which also
// matches U+FEFF and misses U+0085.
const WHITESPACE = /[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const QUOTES = /["'\u201c\u201d\u2018\u2019`]/u;

// Mistakes any pasted value can have: nothing there, whitespace, quotes.
function common(field, value) {
  if (value === "") return finding(field, "error", "required", "This field is required.");
  if (WHITESPACE.test(value)) {
    return finding(field, "error", "whitespace",
      "Remove the spaces or line breaks that came with the copy; none of these values contains any.");
  }
  if (QUOTES.test(value)) return finding(field, "error", "quotes", "Remove the quotation marks around the value.");
  return null;
}

export function isGuid(s) {
  return /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(s);
}

function isDomain(s) {
  const labels = s.split(".");
  return labels.length >= 2
    && labels.every((l) => l.length > 0 && l.length <= 63 && !l.startsWith("-") && !l.endsWith("-")
      && /^[A-Za-z0-9-]+$/.test(l))
    && /^[A-Za-z]{2,}$/.test(labels[labels.length - 1]);
}

// Current secrets: three characters, a digit, `Q~`, then 31 to 34 more, all
// from `a-z A-Z 0-9 _ ~ . -` (the first three not `-`).
function looksLikeCurrentSecret(s) {
  return /^[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}$/.test(s);
}

// `YYYY-MM-DD`, and only real dates, as {y, m, d}; null otherwise. Each part
// is read the way Rust's str::parse reads it (the year may carry a sign, the
// month and day a `+`), so odd inputs get the same answer on both sides.
export function parseDate(s) {
  if (typeof s !== "string" || s.length !== 10 || s[4] !== "-" || s[7] !== "-") return null;
  const [ys, ms, ds] = [s.slice(0, 4), s.slice(5, 7), s.slice(8, 10)];
  if (!/^[+-]?[0-9]+$/.test(ys) || !/^\+?[0-9]+$/.test(ms) || !/^\+?[0-9]+$/.test(ds)) return null;
  const [y, m, d] = [Number(ys), Number(ms), Number(ds)];
  if (m < 1 || m > 12 || d < 1 || d > daysInMonth(y, m)) return null;
  return { y, m, d };
}

function daysInMonth(y, m) {
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1];
}

function compareDates(a, b) {
  return (a.y - b.y) || (a.m - b.m) || (a.d - b.d);
}

// The same day `months` later, or the month's last day when it has fewer days.
function monthsLater(date, months) {
  const total = date.y * 12 + date.m - 1 + months;
  const y = Math.floor(total / 12);
  const m = total - y * 12 + 1;
  return { y, m, d: Math.min(date.d, daysInMonth(y, m)) };
}

/**
 * The three values `az ad app credential reset` prints ({"appId", "password",
 * "tenant"}), as payload fields; null if `text` is not that output. az's
 * warning ("WARNING: The output includes credentials ...", which it writes
 * just before the JSON) may come along, on a line of its own or run
 * together with it; any other text before the JSON may not.
 */
export function fieldsFromAzOutput(text) {
  if (typeof text !== "string") return null;
  const trimmed = text.trim();
  const start = trimmed.indexOf("{");
  if (start < 0) return null;
  const before = trimmed.slice(0, start).trim();
  if (before !== "" && !before.startsWith("WARNING:")) return null;
  let v;
  try {
    v = JSON.parse(trimmed.slice(start));
  } catch {
    return null;
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
  const { appId, password, tenant } = v;
  if (![appId, password, tenant].every((x) => typeof x === "string")) return null;
  return { tenant_id: tenant, client_id: appId, client_secret: password };
}
