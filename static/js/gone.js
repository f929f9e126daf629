// A link that is gone may still carry its key: in the fragment, or after the
// %23 that a mail gateway wrote for '#'. It opens nothing now, so take it out
// of the address bar and this history entry rather than leave it lying there.
const at = location.pathname.search(/%23/i);
if (at >= 0 || location.hash) {
  const path = at >= 0 ? location.pathname.slice(0, at) : location.pathname;
  history.replaceState(null, "", path + location.search);
}
