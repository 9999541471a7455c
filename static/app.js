// TrackMaster's own behaviours. No inline scripts anywhere: the CSP allows only files from /static.
"use strict";

// CSS folds what JavaScript can unfold (the menu, the cell panel) only when this is set.
document.documentElement.classList.add("js");

// --- The top bar's menu on narrow screens --------------------------------------------------
document.addEventListener("click", (event) => {
  const toggle = event.target.closest?.(".menu-toggle");
  if (!toggle) return;
  const menu = document.getElementById(toggle.getAttribute("aria-controls"));
  const open = !menu.classList.contains("open");
  menu.classList.toggle("open", open);
  toggle.setAttribute("aria-expanded", String(open));
  if (open) menu.querySelector("a, button")?.focus();
});

// --- The cell panel: opened by a cell, it takes the focus; Close or Escape gives it back ----
// A cell is a plain link to its own page (web/cell_markup.py); here one listener opens any
// of them in the panel instead, so the hundreds of cells a busy live frame swaps carry no
// htmx attributes of their own (nor does htmx process each). A modified click still opens
// the cell's page, as a link does.
document.addEventListener("click", (event) => {
  const cell = event.target.closest?.("a.cell");
  if (!cell || event.defaultPrevented || event.button !== 0) return;
  if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  if (!document.getElementById("inspector")) return;
  event.preventDefault();
  htmx.ajax("GET", cell.getAttribute("href"), { source: cell, target: "#inspector" });
});
let panelOpener = null;
function openPanel(panel) {
  panel.classList.add("open");
  document.getElementById("inspector")?.focus();
}
function closePanel(panel) {
  panel.classList.remove("open");
  if (panelOpener?.isConnected) panelOpener.focus();
  else {
    // The stream may have swapped the cell since: focus its successor by id.
    const again = panelOpener && document.getElementById(panelOpener.id);
    again?.focus();
  }
}
document.addEventListener("htmx:after:swap", (event) => {
  const panel = document.getElementById("inspector-panel");
  const source = event.target;
  if (!panel || !(source instanceof Element)) return;
  const cell = source.closest("a.cell");
  if (cell && !panel.contains(cell)) {
    panelOpener = cell;
    openPanel(panel);
  } else if (panel.contains(source) && !panel.contains(document.activeElement)) {
    // An override answered: its form was replaced, so the focus would fall to the page.
    openPanel(panel);
  }
});
// While a cell's panel is open, Tab reads it right after that cell (the panel sits after the
// whole matrix in the document, so Tab would otherwise reach the override form only after
// every other cell): cell, panel, next cell; Shift+Tab the same way back.
const TABBABLE = "a[href], button, input, select, textarea, summary, [tabindex]";
function tabbables(root) {
  return [...root.querySelectorAll(TABBABLE)].filter((el) =>
    !el.disabled && el.getAttribute("tabindex") !== "-1" && !(el instanceof HTMLInputElement && el.type === "hidden")
    && el.getClientRects().length && el.checkVisibility({ visibilityProperty: true }));
}
function currentOpener() {
  if (panelOpener?.isConnected) return panelOpener;
  return panelOpener ? document.getElementById(panelOpener.id) : null;
}
document.addEventListener("keydown", (event) => {
  if (event.key !== "Tab" || event.altKey || event.ctrlKey || event.metaKey) return;
  const panel = document.getElementById("inspector-panel");
  const opener = currentOpener();
  if (!panel?.classList.contains("open") || !opener) return;
  const inside = tabbables(panel);
  if (!inside.length) return;
  const outside = tabbables(document.body).filter((el) => !panel.contains(el));
  const at = outside.indexOf(opener);
  if (at < 0) return;
  const order = [...outside.slice(0, at + 1), ...inside, ...outside.slice(at + 1)];
  const active = document.activeElement;
  // The panel's own box (focused when it opens) stands just before its first control.
  const from = active === document.getElementById("inspector") ? order.indexOf(inside[0]) - 0.5 : order.indexOf(active);
  if (from < 0 && active !== document.getElementById("inspector")) return;
  const next = order[event.shiftKey ? Math.ceil(from) - 1 : Math.floor(from) + 1];
  if (!next) return; // off either end of the page: the browser's own way
  event.preventDefault();
  next.focus();
});
document.addEventListener("click", (event) => {
  const close = event.target.closest?.(".close-panel");
  if (close) closePanel(close.closest(".inspector"));
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  const panel = document.getElementById("inspector-panel");
  if (panel?.classList.contains("open") && panel.contains(document.activeElement)) closePanel(panel);
  const menu = document.querySelector(".topbar-menu.open");
  if (menu) {
    menu.classList.remove("open");
    document.querySelector(".menu-toggle")?.setAttribute("aria-expanded", "false");
  }
});

// Destructive actions ask first (web/confirmations.py). htmx forms carry hx-confirm, which
// htmx 4 itself turns into a dialog. Plain forms (no hx-post) carry data-confirm: asked
// here, and when the answer is yes the form says so, so the server skips its confirm page
// (the page that asks instead when JavaScript is off).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.dataset.confirm || form.hasAttribute("hx-post")) return;
  if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
  if (!form.querySelector("input[name=confirmed]")) {
    const yes = document.createElement("input");
    Object.assign(yes, { type: "hidden", name: "confirmed", value: "yes" });
    form.append(yes);
  }
}, true);

// --- Live session pages (templates/sessions/) -------------------------------------------
// The SSE stream swaps cells, counts, coverage rows and log rows in place; one observer
// keeps what depends on them right: log rows deduped and windowed, filters re-applied,
// changed cells flashed. Nothing here is needed for the page to be correct without JS.

// Start page: a story's box chooses all its events; it stays ticked only while all are.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (!(box instanceof HTMLInputElement)) return;
  const form = box.form;
  if (!form) return;
  if (box.dataset.selectAll) {
    form.querySelectorAll(`[data-story-event="${CSS.escape(box.dataset.selectAll)}"]`)
      .forEach((each) => { if (!each.closest("[hidden]")) each.checked = box.checked; });
  } else if (box.dataset.storyEvent) {
    const story = box.dataset.storyEvent;
    const all = [...form.querySelectorAll(`[data-story-event="${CSS.escape(story)}"]`)];
    const storyBox = form.querySelector(`[data-select-all="${CSS.escape(story)}"]`);
    if (storyBox) {
      storyBox.checked = all.every((each) => each.checked);
      storyBox.indeterminate = !storyBox.checked && all.some((each) => each.checked);
    }
  }
});

// Start page: filter stories and events as you type (the GET form does it without JS).
function filterChooser(input) {
  const form = document.querySelector(input.dataset.filterEvents);
  if (!form) return;
  const needle = input.value.trim().toLowerCase();
  form.querySelectorAll("fieldset.story").forEach((story) => {
    const storyName = story.querySelector("legend")?.textContent.toLowerCase() ?? "";
    const storyMatches = !needle || storyName.includes(needle);
    let shown = 0;
    story.querySelectorAll("label.event").forEach((label) => {
      const show = storyMatches || label.dataset.name.includes(needle);
      label.hidden = !show;
      if (show) shown += 1;
    });
    story.hidden = shown === 0;
  });
}

// Session page: filter the matrix by field key or event name, and optionally show only problems.
function filterMatrix() {
  const input = document.querySelector("[data-filter='#matrix']");
  const onlyProblems = document.querySelector("[data-only-problems='#matrix']")?.checked;
  const needle = (input?.value ?? "").trim().toLowerCase();
  document.querySelectorAll("#matrix tbody.event-block").forEach((block) => {
    const eventMatches = !needle || block.dataset.event.toLowerCase().includes(needle);
    let shown = 0;
    block.querySelectorAll("tr.field-row").forEach((row) => {
      const keyMatches = eventMatches || row.dataset.key.toLowerCase().includes(needle);
      const problem = !onlyProblems || row.querySelector(".cell:not([data-verdict='SUCCESS'])");
      row.hidden = !(keyMatches && problem);
      if (!row.hidden) shown += 1;
    });
    block.hidden = shown === 0 && !(eventMatches && !onlyProblems);
  });
}

document.addEventListener("input", (event) => {
  const target = event.target;
  if (target.matches?.("[data-filter-events]")) filterChooser(target);
  if (target.matches?.("[data-filter='#matrix']")) filterMatrix();
});
document.addEventListener("change", (event) => {
  if (event.target.matches?.("[data-only-problems]")) filterMatrix();
});

// Session page: keep the live log list to its window, without duplicates, newest first.
function tidyLogs(list) {
  const seen = new Set();
  list.querySelectorAll(":scope > article.log").forEach((row) => {
    if (seen.has(row.id)) row.remove(); else seen.add(row.id);
  });
  const rows = list.querySelectorAll(":scope > article.log");
  if (rows.length) list.querySelector(":scope > .empty-logs")?.remove();
  const windowSize = Number(list.dataset.window || 50);
  if (rows.length > windowSize) {
    [...rows].slice(windowSize).forEach((row) => row.remove());
    // A mark of rows a live frame left out goes with the rows it sits among.
    const last = rows[windowSize - 1];
    list.querySelectorAll(":scope > .log-skipped").forEach((mark) => {
      if (last.compareDocumentPosition(mark) & Node.DOCUMENT_POSITION_FOLLOWING) mark.remove();
    });
    // "Older events" now starts below the last row kept, so nothing falls in between.
    const older = document.getElementById("older-logs");
    const kept = list.querySelectorAll(":scope > article.log");
    if (older) {
      older.querySelector("input[name=before]").value = kept[kept.length - 1].dataset.logId;
      older.hidden = false;
    }
  }
}

const FLASH_MS = 1500;
function watchLivePage() {
  let filterQueued = false;
  new MutationObserver((mutations) => {
    let logsChanged = false;
    for (const mutation of mutations) {
      for (const node of mutation.addedNodes) {
        if (!(node instanceof HTMLElement)) continue;
        if (node.classList.contains("cell") || node.classList.contains("cov-row")) {
          node.classList.add("fresh");
          setTimeout(() => node.classList.remove("fresh"), FLASH_MS);
        }
        if (node.matches("article.log") || node.id === "logs") logsChanged = true;
      }
    }
    const list = document.getElementById("log-list");
    if (logsChanged && list) tidyLogs(list);
    if (!filterQueued) {
      filterQueued = true;
      requestAnimationFrame(() => { filterQueued = false; filterMatrix(); filterLogs(); localTimes(document); });
    }
  }).observe(document.getElementById("main"), { childList: true, subtree: true });
}

// The connection line says when the stream is down; the next message overwrites it.
document.addEventListener("htmx:sse:error", (event) => {
  const live = event.target.closest?.("#live");
  if (live) { live.classList.add("offline"); live.textContent = "connection lost, reconnecting…"; }
});
document.addEventListener("htmx:sse:after:message", (event) => {
  event.target.closest?.("#live")?.classList.remove("offline");
});

document.addEventListener("DOMContentLoaded", () => {
  if (document.getElementById("live")) watchLivePage();
});

// --- Caught events: copy a payload, and filter the list ------------------------------------
// Copy buttons are only useful with JavaScript; CSS hides them without it.
document.addEventListener("click", async (event) => {
  const button = event.target.closest?.(".copy-payload");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
  } catch {
    // No clipboard (an insecure origin): select the text so the tester can copy it.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.textContent = label; }, 1500);
});

// The filter form over the caught events: a GET form to the logs page without JS; with JS
// it filters the live list in place, also as new events arrive.
function filterLogs() {
  const form = document.getElementById("log-filter");
  const list = document.getElementById("log-list");
  if (!form || !list) return;
  const value = (name) => (form.elements[name]?.value ?? "").trim().toLowerCase();
  const [name, platform, user, verdict, text] = ["event", "platform", "user", "verdict", "q"].map(value);
  let shown = 0;
  // The rows a reconnected page got for the events caught while it was away pass the same filter.
  document.querySelectorAll("#log-list > article.log, #log-gap article.log").forEach((row) => {
    const show = (!name || row.dataset.name.toLowerCase() === name)
      && (!platform || row.dataset.platform.toLowerCase() === platform)
      && (!user || row.dataset.user.toLowerCase().includes(user))
      && (!verdict || row.dataset.verdicts.toLowerCase().split(" ").includes(verdict))
      && (!text || row.textContent.toLowerCase().includes(text));
    row.hidden = !show;
    if (show) shown += 1;
  });
  const count = document.getElementById("log-filter-count");
  if (count) count.textContent = name || platform || user || verdict || text ? `${shown} shown` : "";
}
document.addEventListener("input", (event) => {
  if (event.target.closest?.("#log-filter")) filterLogs();
});
document.addEventListener("change", (event) => {
  if (event.target.closest?.("#log-filter")) filterLogs();
});
document.addEventListener("submit", (event) => {
  if (event.target.id === "log-filter" && document.getElementById("log-list")) {
    event.preventDefault();
    filterLogs();
  }
});

// --- Times: every <time class="at"> says UTC; hovering shows the viewer's own local time ---
function localTimes(root) {
  root.querySelectorAll?.("time.at:not([title])").forEach((time) => {
    const moment = new Date(time.dateTime);
    if (!Number.isNaN(moment.getTime())) time.title = `your time: ${moment.toLocaleString()}`;
  });
}
document.addEventListener("DOMContentLoaded", () => localTimes(document));
document.addEventListener("htmx:after:swap", () => localTimes(document));
