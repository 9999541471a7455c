"""Cross-platform parity of a session: which platforms sent each watched event, and which
fields one platform sends that another (which sent the event) does not.

Read from the results cells (`result_cell`, kept in the ingest transaction): field 0 of
an event counts the events caught per platform; a field is present on a platform when
any of its events there gave it a value (a SUCCESS or UNCERTAIN verdict, or a FAIL for
a wrong value rather than a missing one: the cell keeps the newest FAIL's code).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trackmaster.models import ResultCell
from web.session_view import PLATFORMS, MatrixPlan

MISSING_CODE = "not_found"


@dataclass(frozen=True)
class FieldGap:
    key: str
    present: tuple[str, ...]
    missing: tuple[str, ...]


@dataclass
class EventParity:
    event_id: int
    name: str
    caught: dict[str, int] = field(default_factory=dict)  # platform -> events caught
    gaps: list[FieldGap] = field(default_factory=list)

    @property
    def dom_id(self) -> str:
        return f"parity-{self.event_id}"

    @property
    def not_yet(self) -> tuple[str, ...]:
        return tuple(p for p in PLATFORMS if not self.caught.get(p))


async def load_parity(
    session_id: int, plan: MatrixPlan, event_ids: set[int] | None = None
) -> list[EventParity]:
    """The parity of every event of the plan, or only of `event_ids` (a live frame's)."""
    if event_ids is not None and not event_ids:
        return []
    query = ResultCell.filter(session_id=session_id)
    if event_ids is not None:
        query = query.filter(event_id__in=sorted(event_ids))
    rows = await query.values(
        "event_id", "field_id", "platform", "caught", "n_success", "n_uncertain", "n_fail",
        "fail_code",
    )  # fmt: skip
    caught: dict[int, dict[str, int]] = {}
    present: dict[tuple[int, int], set[str]] = {}
    for row in rows:
        platform = str(row["platform"])
        if row["field_id"] == 0:
            caught.setdefault(row["event_id"], {})[platform] = int(row["caught"] or 0)
            continue
        has_value = (row["n_success"] or 0) + (row["n_uncertain"] or 0) > 0 or (
            (row["n_fail"] or 0) > 0 and row["fail_code"] != MISSING_CODE
        )
        if has_value:
            present.setdefault((row["event_id"], row["field_id"]), set()).add(platform)
    found = []
    for event in plan.events:
        if event_ids is not None and event.id not in event_ids:
            continue
        parity = EventParity(event.id, event.name, caught.get(event.id, {}))
        sent = {p for p, n in parity.caught.items() if n}
        for plan_field in event.fields:
            if plan_field.removed:
                continue  # judged no more: a gap in it says nothing of the app
            on = present.get((event.id, plan_field.id), set()) & sent
            off = sent - on
            if on and off:
                parity.gaps.append(FieldGap(plan_field.key, tuple(sorted(on)), tuple(sorted(off))))
        found.append(parity)
    return found
