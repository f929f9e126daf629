// Measuring page states for the browser tests: how wide the page is on its
// screen (it must not scroll sideways) and what axe-core finds that is
// serious or critical, in light and in dark mode. tests/browser.rs
// (check_page_states) fails on either.
//
// axe-core is injected with page.evaluate of its source, which DevTools runs
// outside the page's Content-Security-Policy; the product's policy is not
// relaxed.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * `{measure, pages, csp}`: `measure(page, name)` records the page as it is
 * now into `pages` ({name, scheme, width, viewport, wide, axe}); `csp` is
 * for the scripts to collect violations into.
 */
export function measurer() {
  const pages = [];
  const csp = [];
  async function measure(page, name) {
    for (const scheme of ["light", "dark"]) {
      await page.emulateMedia({ colorScheme: scheme });
      const { width, viewport, wide } = await page.evaluate(() => {
        const viewport = window.innerWidth;
        const wide = [...document.querySelectorAll("body *")]
          .filter((el) => el.getBoundingClientRect().right > viewport + 0.5)
          .slice(0, 5)
          .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}`);
        return { width: document.documentElement.scrollWidth, viewport, wide };
      });
      if (await page.evaluate(() => typeof window.axe === "undefined")) await page.evaluate(axeSource);
      const axe = await page.evaluate(async () => {
        const result = await window.axe.run(document, { resultTypes: ["violations"] });
        return result.violations
          .filter((v) => v.impact === "serious" || v.impact === "critical")
          .map((v) => `${v.id}: ${v.nodes.slice(0, 4).map((n) => n.target.join(" ")).join(", ")}`);
      });
      pages.push({ name, scheme, width, viewport, wide, axe });
    }
    await page.emulateMedia({ colorScheme: "light" });
  }
  return { measure, pages, csp };
}
