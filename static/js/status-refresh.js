// Refreshes the status page in place, keeping what the reader opened and ticked; it pauses while
// a failure is ticked for re-queueing, so that the choice is not lost under the reader's hand.
(() => {
  const status = document.getElementById("status");
  if (!status) return;
  const seconds = Number(status.dataset.refreshSeconds) || 15;

  async function refresh() {
    if (status.querySelector("input[type=checkbox]:checked")) return;
    const open = [...status.querySelectorAll("details[open]")].map((details) => details.id);
    const response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("status");
    if (!fresh) return;
    status.replaceChildren(...fresh.childNodes);
    for (const id of open) document.getElementById(id)?.setAttribute("open", "");
  }

  setInterval(() => refresh().catch(() => {}), seconds * 1000);
})();
