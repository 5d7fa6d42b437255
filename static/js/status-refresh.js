// Refreshes the status page in place, keeping what the reader opened and ticked; it pauses while
// a failure is ticked for re-queueing, so that the choice is not lost under the reader's hand.
// What is open and ticked is read when the new page has arrived, not when it was asked for: a
// section opened or a box ticked while a slow answer was on its way is kept too. A refresh that
// fails, or a pause, is said above the page: its figures would otherwise look current.
(() => {
  const status = document.getElementById("status");
  const state = document.getElementById("refresh-state");
  if (!status || !state) return;
  const seconds = Number(status.dataset.refreshSeconds) || 15;
  const ticked = () => status.querySelector("input[type=checkbox]:checked");

  function say(text, kind) {
    state.textContent = text || "";
    state.className = `alert alert--${kind}`;
    state.hidden = !text;
  }

  async function freshStatus() {
    const response = await fetch(window.location.href, { headers: { Accept: "text/html" } });
    if (!response.ok) return null;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    return page.getElementById("status");  // none on the log-in page a lapsed session gets
  }

  async function refresh() {
    if (ticked()) return say(state.dataset.paused, "info");
    const fresh = await freshStatus().catch(() => null);
    if (!fresh) return say(state.dataset.failed, "error");
    if (ticked()) return say(state.dataset.paused, "info");
    const open = [...status.querySelectorAll("details[open]")].map((details) => details.id);
    status.replaceChildren(...fresh.childNodes);
    for (const id of open) document.getElementById(id)?.setAttribute("open", "");
    say("", "info");
  }

  // The next refresh is timed from the end of this one, so that slow answers never overlap.
  function refreshLater() {
    setTimeout(() => refresh().catch(() => {}).finally(refreshLater), seconds * 1000);
  }
  refreshLater();
})();
