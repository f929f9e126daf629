// The dashboard's filter: by state (or "waiting for retrieval or import")
// and by customer, in the page, without a reload. The server renders every
// row and the form hidden, so without this script the table is complete.

import { $ } from "./common.js";

const form = $("filter");
const rows = [...document.querySelectorAll("table.requests tbody tr")];

function apply() {
  const state = $("filter-state").value;
  const words = $("filter-customer").value.trim().toLowerCase();
  let shown = 0;
  for (const row of rows) {
    const inState = !state || (state === "waiting" ? row.hasAttribute("data-waiting") : row.dataset.state === state);
    const match = inState && row.dataset.customer.toLowerCase().includes(words);
    row.hidden = !match;
    if (match) shown++;
  }
  $("filter-status").textContent =
    state || words ? `Showing ${shown} of ${rows.length} requests.` : "";
}

if (form) {
  form.hidden = false;
  form.addEventListener("submit", (event) => event.preventDefault());
  $("filter-state").addEventListener("change", apply);
  $("filter-customer").addEventListener("input", apply);
  apply();
}
