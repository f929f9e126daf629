// How a decrypted payload is shown: one read-only row per field, secrets
// masked until asked, each with a Copy button. Used by the link reveal page
// and the PM's retrieval page.

import { wireCopy } from "/assets/common.js";
import { expiryNote } from "/assets/credential.js";
import { today } from "/assets/findings.js";

// Labels and order of the fields the built-in templates carry (as in
// src/template.rs); `secret` ones start masked.
const FIELDS = {
  tenant_id: { label: "Directory (tenant) ID" },
  client_id: { label: "Application (client) ID" },
  client_secret: { label: "Client secret value", secret: true },
  secret_expires_on: { label: "Secret expires on" },
  cloud: { label: "Cloud" },
  text: { label: "Text", secret: true, multiline: true },
};

/**
 * Swaps the page's interstitial (`section`) for the `#revealed` section with
 * the payload laid out in `#fields`, and puts focus on the first Copy.
 */
export function showRevealed(section, payload) {
  const list = document.getElementById("fields");
  renderPayload(list, payload);
  section.hidden = true;
  document.getElementById("revealed").hidden = false;
  list.querySelector("button.copy")?.focus();
}

/** Lays a decrypted payload's fields out in `list`, each with Copy (and Show for secrets). */
function renderPayload(list, payload) {
  const fields = payload && typeof payload.fields === "object" && payload.fields ? payload.fields : {};
  const known = Object.keys(FIELDS).filter((name) => name in fields);
  const others = Object.keys(fields).filter((name) => !(name in FIELDS));
  list.replaceChildren();
  for (const name of [...known, ...others]) {
    const spec = FIELDS[name] ?? { label: name };
    list.append(row(name, spec, String(fields[name])));
  }
  if (typeof payload?.note === "string" && payload.note) {
    list.append(row("note", { label: "Note from the sender", multiline: true }, payload.note));
  }
}

function row(name, spec, value) {
  const div = document.createElement("div");
  div.className = "field revealed-field";
  const label = document.createElement("label");
  label.htmlFor = `out-${name}`;
  label.textContent = spec.label;

  const multiline = spec.multiline || value.includes("\n");
  const out = document.createElement(multiline ? "textarea" : "input");
  out.id = `out-${name}`;
  out.readOnly = true;
  out.spellcheck = false;
  out.autocomplete = "off";
  out.value = value;
  if (multiline) out.rows = Math.min(12, Math.max(3, value.split("\n").length + 1));
  out.addEventListener("focus", () => out.select());

  const actions = document.createElement("div");
  actions.className = "copyable";
  actions.append(out);
  if (spec.secret) {
    const toggle = document.createElement("button");
    toggle.type = "button";
    toggle.className = "toggle";
    let masked = true;
    const mask = () => {
      // A password input for one line; a textarea has no such type, so it is
      // masked with a class (text-security) instead.
      if (multiline) out.classList.toggle("masked", masked);
      else out.type = masked ? "password" : "text";
      toggle.textContent = masked ? "Show" : "Hide";
      toggle.setAttribute("aria-pressed", String(!masked));
    };
    toggle.addEventListener("click", () => {
      masked = !masked;
      mask();
    });
    mask();
    actions.append(toggle);
  }
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", `Copy ${spec.label}`);
  wireCopy(copy, () => out.value);
  actions.append(copy);

  div.append(label, actions);
  // A date more than 24 months out, or 2299-12-31, is legal; say what it
  // means rather than leave the reader to wonder whether it is a mistake.
  const note = name === "secret_expires_on" ? expiryNote(value, today()) : null;
  if (note) {
    const p = document.createElement("p");
    p.id = `${name}-note`;
    p.className = `finding ${note.level}`;
    p.textContent = note.message;
    out.setAttribute("aria-describedby", p.id);
    div.append(p);
  }
  return div;
}
