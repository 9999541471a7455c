// TrackMaster's own behaviours. No inline scripts anywhere: the CSP allows only files from /static.
"use strict";

// Elements with data-confirm ask before their htmx request goes out.
document.addEventListener("htmx:confirm", (event) => {
  const message = event.target.closest("[data-confirm]")?.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});
