// Refreshes the status page in place, keeping what the reader opened and ticked; it pauses while
// a failure is ticked for re-queueing, so that the choice is not lost under the reader's hand.
// What is open and ticked is read when the new page has arrived, not when it was asked for: a
// section opened or a box ticked while a slow answer was on its way is kept too.
(() => {
  const status = document.getElementById("status");
  if (!status) return;
  const seconds = Number(status.dataset.refreshSeconds) || 15;
  const ticked = () => status.querySelector("input[type=checkbox]:checked");

  async function refresh() {
    if (ticked()) return;
    const response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("status");
    if (!fresh || ticked()) return;
    const open = [...status.querySelectorAll("details[open]")].map((details) => details.id);
    status.replaceChildren(...fresh.childNodes);
    for (const id of open) document.getElementById(id)?.setAttribute("open", "");
  }

  // The next refresh is timed from the end of this one, so that slow answers never overlap.
  function refreshLater() {
    setTimeout(() => refresh().catch(() => {}).finally(refreshLater), seconds * 1000);
  }
  refreshLater();
})();
