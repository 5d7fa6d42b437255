// Progressive enhancement only: every page works without this script.
"use strict";

// After a failed submit, take the reader to the list of problems.
function focusErrorSummary() {
  const summary = document.querySelector("[data-autofocus]");
  if (summary) summary.focus();
}

// A pressed submit button is disabled and says what is happening, so that a double click
// sends one request. The page may come back from the back-forward cache: enable it again.
function guardSubmitButtons() {
  document.addEventListener("submit", (event) => {
    const button = event.target.querySelector("button[data-busy-label]");
    if (event.defaultPrevented || !button || button.disabled) return;
    button.dataset.label = button.textContent;
    button.textContent = button.dataset.busyLabel;
    // Disabled after this event, or the browser would not submit the form at all.
    setTimeout(() => { button.disabled = true; }, 0);
    // Pressed again if the answer never comes (the person stopped the page, say).
    setTimeout(() => { restore(button); }, 15000);
  });
  window.addEventListener("pageshow", () => {
    for (const button of document.querySelectorAll("button[data-busy-label][disabled]")) {
      restore(button);
    }
  });
}

function restore(button) {
  button.disabled = false;
  if (button.dataset.label) button.textContent = button.dataset.label;
}

// A "Show" button beside each password input; its labels come from the page's language.
function addPasswordToggles() {
  const { showPassword, hidePassword } = document.body.dataset;
  for (const input of document.querySelectorAll("input[type=password]")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "reveal";
    button.textContent = showPassword;
    button.setAttribute("aria-controls", input.id);
    button.addEventListener("click", () => {
      const shown = input.type === "text";
      input.type = shown ? "password" : "text";
      button.textContent = shown ? showPassword : hidePassword;
    });
    // Sent as a password, so that the browser keeps no shown password in its form history.
    input.form?.addEventListener("submit", () => {
      input.type = "password";
      button.textContent = showPassword;
    });
    const wrapper = document.createElement("div");
    wrapper.className = "reveal-wrapper";
    input.replaceWith(wrapper);
    wrapper.append(input, button);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  addPasswordToggles();
  guardSubmitButtons();
  focusErrorSummary();
});
