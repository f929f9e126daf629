// The closed page of a files request (/r/{id} once answered, expired,
// withdrawn or cancelled): an upload this browser kept for the request
// (its transfer's key among it) has nothing left to do, so it goes, even if
// the sending page was closed before it could clear it itself.
const section = document.getElementById("request-closed");
const id = section?.dataset.id;
if (id) localStorage.removeItem(`handoff.request.files.${id}`);
