// The "Send files" page (/files): the files are encrypted and uploaded by
// files-upload.js; this page picks the link's lifetime and, once the
// upload is complete, shows the link with its key after '#'.

import { $, formatTime, wireCopy } from "/assets/common.js";
import { wireSender } from "/assets/files-upload.js";

function showLink(upload, completed) {
  $("files-result").hidden = false;
  $("files-link").value = `${completed.url}#${upload.identity}`;
  const expires = $("files-expires");
  expires.textContent = formatTime(completed.expires_at);
  expires.title = completed.expires_at;
  $("files-link").focus();
  $("files-link").select();
}

wireSender({
  storeKey: "handoff.files.upload",
  bind: () => ({ expires_in: Number.parseInt($("expires_in").value, 10) }),
  messageInManifest: true,
  per: "link",
  splitAdvice: "Send them in several links, or fewer at a time.",
  restartable: true,
  done: async (upload, completed) => showLink(upload, completed),
  onRestart: () => {
    $("files-link").value = "";
  },
});

wireCopy($("files-copy"), () => $("files-link").value);
$("files-link").addEventListener("focus", (e) => e.target.select());
$("files-another").addEventListener("click", () => {
  $("files-link").value = "";
  $("files-result").hidden = true;
  $("compose").hidden = false;
});
