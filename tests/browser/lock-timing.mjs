// Measures, in this Chromium, how long locking and unlocking a link's key with
// a passphrase takes (lock.js, the code the create and reveal pages run in
// their worker), at the work factor new links use and at the older one (18).
//
// Inputs:
//   HANDOFF_URL   server base, e.g. http://127.0.0.1:8080
// Output: {"work_factor": n, "lock_ms": n, "unlock_ms": n, "older_lock_ms": n,
//          "compact_length": n (characters after '#'), "older_length": n}

import { check, env, run } from "./lib.mjs";

const base = env("HANDOFF_URL");

await run(async (browser) => {
  const page = await browser.newPage();
  await page.goto(base + "/");
  return page.evaluate(async () => {
    const lock = await import("/assets/lock.js");
    const { Encrypter, generateX25519Identity } = await import("/assets/age.js");
    const identity = await generateX25519Identity();
    const time = async (f) => {
      const started = performance.now();
      const value = await f();
      return [Math.round(performance.now() - started), value];
    };
    const [lockMs, fragment] = await time(() => lock.lock(identity, "correct horse battery"));
    const [unlockMs, back] = await time(() => lock.unlock(fragment, "correct horse battery"));
    if (back !== identity) throw new Error("the unlocked identity differs");
    // What builds before the compact form made: the identity's text, work factor 18.
    const [olderLockMs, older] = await time(async () => {
      const e = new Encrypter();
      e.setPassphrase("correct horse battery");
      e.setScryptWorkFactor(18);
      return lock.LOCKED_PREFIX + lock.toBase64Url(await e.encrypt(identity));
    });
    return {
      work_factor: lock.WORK_FACTOR, lock_ms: lockMs, unlock_ms: unlockMs, older_lock_ms: olderLockMs,
      compact_length: fragment.length, older_length: older.length,
    };
  }).then((r) => {
    check(r.compact_length < r.older_length, "the compact form is not shorter");
    return r;
  });
});
