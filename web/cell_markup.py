"""One results cell as HTML: built by hand, because a busy live frame carries hundreds.

At 200 events a second nearly every cell's counts move in every frame, so a
frame of a 600-cell session is 600 cells. Rendered through the old `_cell.html`
template they cost 33-36 us each and ~415-426 bytes with their `<hx-partial>`
wrapper; built here they cost 12-21 us (measured at load 6.5) and, sent as an
out-of-band swap (the cell itself names its target by its id: `hx-swap-oob`),
~290 bytes on one line (a line is an SSE `data:` line: each newline costs 8
bytes more). The
matrix of the page uses this same function, so a streamed cell and a rendered
one cannot differ. A cell carries no htmx attributes: one listener in
static/app.js opens any cell's link in the side panel (60 bytes less a cell, and
nothing for htmx to process in each of a frame's hundreds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup, escape

if TYPE_CHECKING:  # web.session_view's one cell type; not imported at run time (no cycle)
    from web.session_view import Cell


# A cell's counts as data attributes, by verdict name (a handful): named once each.
_COUNT_NAMES: dict[str, str] = {}
_OOB = ' hx-swap-oob="true"'
_BY_HAND_MARK = '<span class="muted" title="overridden by hand"> ✎</span>'


def _count_name(verdict: str) -> str:
    name = _COUNT_NAMES.get(verdict)
    if name is None:
        name = _COUNT_NAMES[verdict] = f"data-{escape(verdict.lower())}"
    return name


def cell_html(session_id: int, cell: Cell, *, oob: bool = False) -> Markup:
    """The cell's link: its verdict and count, the reason on hover, its page (or the side
    panel, static/app.js) on click.

    `oob`: marked to replace the page's element of the same id wherever it comes in an
    update (htmx's out-of-band swap, outerHTML).
    """
    platform = escape(cell.platform)
    event, field = int(cell.event_id), int(cell.field_id)
    verdict = escape(cell.verdict)
    by_hand = " by-hand" if cell.source in ("override", "reset") else ""
    counts = "".join([f' {_count_name(v)}="{int(n)}"' for v, n in cell.counts])
    return Markup(
        f'<a id="cell-{event}-{field}-{platform}"{_OOB if oob else ""} '
        f'class="cell verdict verdict-{verdict}{by_hand}" '
        f'href="/sessions/{int(session_id)}/cells/{event}/{field}/{platform}" '
        f'title="{escape(cell.reason)}" data-verdict="{verdict}"{counts}>'
        f"{escape(cell.label or cell.verdict)}{_BY_HAND_MARK if cell.overridden else ''}</a>"
    )
