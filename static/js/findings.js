// Live findings under form fields, shared by the create page and the
// customer's request page. A finding shows for a field once it has been left
// (or on submit), and then follows every keystroke; shouting "required"
// while someone types is noise. Pasting the JSON of `az ad app credential
// reset` into any of its three fields fills all three.

import { fieldsFromAzOutput } from "/assets/credential.js";
import { $ } from "/assets/common.js";

export const ENTRA_FIELDS = ["tenant_id", "client_id", "client_secret", "secret_expires_on", "cloud"];
const AZ_FIELDS = ["tenant_id", "client_id", "client_secret"];

/** The local date: the admin compares the expiry with their own calendar. */
export function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// A message that appears while a mouse button is held down moves what lies
// under the pointer: leaving the last field by pressing the submit button
// would push the button away before the release, and the browser would fire
// no click at all. So a field left during a press shows its finding once the
// button is released, after the click has done its work. Tabbing out, or a
// click elsewhere, still shows it at once or at the release.
let pressed = false;
const waiting = new Set();

function release() {
  pressed = false;
  if (!waiting.size) return;
  const due = [...waiting];
  waiting.clear();
  // The click follows the mouse-up in the same task; render after it.
  setTimeout(() => due.forEach((fn) => fn()));
}

addEventListener("mousedown", () => { pressed = true; }, true);
addEventListener("mouseup", release, true);
addEventListener("dragend", release, true);
// A release the page never saw (a select's popup, outside the window) must
// not hold messages back from the keyboard or the next move.
addEventListener("keydown", release, true);
addEventListener("mousemove", (e) => { if (pressed && e.buttons === 0) release(); }, true);
addEventListener("blur", (e) => { if (e.target === window) release(); });

const unpressed = (fn) => (pressed ? waiting.add(fn) : fn());

/**
 * Wires findings for `inputs` (element ids). `findings(touched)` returns
 * `[{field, level, message}]` for the whole form; each shows in the element
 * `<field>-finding`. `outputOf` maps an input to the field whose finding it
 * shares (a confirmation box and its passphrase). Returns `{render, touchAll,
 * reset}`; `render` returns every finding.
 */
export function wireFindings({ inputs, findings, outputOf = (name) => name }) {
  const touched = new Set();
  const outputs = [...new Set(inputs.map(outputOf))];
  const shown = (field) => inputs.some((name) => outputOf(name) === field && touched.has(name));

  function render() {
    const all = findings(touched);
    for (const field of outputs) {
      const f = all.find((x) => x.field === field);
      const visible = f && shown(field);
      const out = $(`${field}-finding`);
      out.textContent = visible ? f.message : "";
      out.className = `finding${visible ? ` ${f.level}` : ""}`;
      for (const name of inputs.filter((n) => outputOf(n) === field)) {
        if (visible && f.level === "error") $(name).setAttribute("aria-invalid", "true");
        else $(name).removeAttribute("aria-invalid");
      }
    }
    return all;
  }

  function fillFromAz(text) {
    const az = fieldsFromAzOutput(text);
    if (!az) return false;
    for (const name of AZ_FIELDS) {
      $(name).value = az[name];
      touched.add(name);
    }
    render();
    $("secret_expires_on").focus();
    return true;
  }

  for (const name of inputs) {
    const input = $(name);
    input.setAttribute("aria-describedby", `${outputOf(name)}-finding`);
    for (const type of ["blur", "change"]) {
      input.addEventListener(type, () => {
        touched.add(name);
        unpressed(render);
      });
    }
    input.addEventListener("input", () => {
      if (AZ_FIELDS.includes(name) && fillFromAz(input.value)) return;
      render();
    });
  }

  return {
    render,
    touchAll() {
      for (const name of inputs) touched.add(name);
      return render();
    },
    reset() {
      touched.clear();
      render();
    },
  };
}

// A Show button beside a password input (`data-shows="ID"`) lets the admin
// check what they pasted; the value stays hidden unless they ask. Without
// this script the button stays hidden, as it would do nothing.
for (const button of document.querySelectorAll("button[data-shows]")) {
  const input = $(button.dataset.shows);
  button.hidden = false;
  button.addEventListener("click", () => {
    const show = input.type === "password";
    input.type = show ? "text" : "password";
    button.textContent = show ? "Hide" : "Show";
    button.setAttribute("aria-pressed", String(show));
  });
}
