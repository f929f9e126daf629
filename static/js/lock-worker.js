// Runs scrypt (lock.js) off the page's thread, so that the page keeps
// painting its progress bar and answering while a passphrase is worked on.
// One message in ({op: "lock", identity, passphrase} or {op: "unlock",
// fragment, passphrase}), one out ({ok, value, ms} or {ok: false, message}).

import { lock, unlock } from "/assets/lock.js";

self.onmessage = async ({ data }) => {
  const started = performance.now();
  try {
    const value = data.op === "lock"
      ? await lock(data.identity, data.passphrase)
      : await unlock(data.fragment, data.passphrase);
    self.postMessage({ ok: true, value, ms: Math.round(performance.now() - started) });
  } catch (e) {
    self.postMessage({ ok: false, message: String(e?.message ?? e) });
  }
};
