"""The typed session report: everything a report page, CSV or JUnit file shows.

A report is small whatever the size of the session: one cell per watched
field and platform, a capped list of distinct wrong values per failing cell
(each with one example payload), coverage, overrides, unplanned properties.
The caught events themselves are never held; they are counted while read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Worst first: the order in which an outstanding verdict wins a cell.
VERDICT_ORDER = ("FAIL", "UNCERTAIN", "SUCCESS", "UNTESTED")
# Distinct wrong values kept per failing cell (the rest are counted as "and N more").
MAX_WRONG_VALUES = 10


class SessionVerdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    INCOMPLETE = "incomplete"  # no failure, but a watched event was never seen


@dataclass(frozen=True, slots=True)
class WrongValue:
    """One distinct value that failed a cell, how often, and one caught event showing it."""

    value: str  # as JSON text ("home", 3, null for not found)
    count: int
    reason: str
    example_log_id: int
    example_payload: str = ""


@dataclass(slots=True)
class ReportCell:
    event_id: int
    event: str
    field_id: int
    key: str
    platform: str
    verdict: str
    reason: str
    # "log" (judged from caught events), "override", "reset" or "none" (nothing caught).
    source: str
    by: str = ""
    at: datetime | None = None
    # Verdicts of the caught events this cell judges (those after its last override/reset).
    counts: dict[str, int] = field(default_factory=dict)
    wrong: list[WrongValue] = field(default_factory=list)
    wrong_more: int = 0  # distinct wrong values beyond MAX_WRONG_VALUES

    @property
    def judged(self) -> int:
        return sum(self.counts.values())

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"


@dataclass(frozen=True, slots=True)
class ReportEvent:
    id: int
    name: str
    story: str
    caught: int  # caught events of this kind, all platforms
    caught_by_platform: dict[str, int]
    fields: tuple[tuple[int, str, tuple[str, ...]], ...]  # (field id, key, allowed values)

    @property
    def seen(self) -> bool:
        return self.caught > 0


@dataclass(frozen=True, slots=True)
class CoverageLine:
    event: str
    key: str
    platform: str
    seen: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.seen) + len(self.missing)


@dataclass(frozen=True, slots=True)
class OverrideLine:
    kind: str  # "override" or "reset"
    event: str
    key: str  # "" for a reset of the whole event
    platform: str  # "" for every platform
    verdict: str
    reason: str
    by: str
    at: datetime | None


@dataclass(frozen=True, slots=True)
class UnplannedLine:
    event: str
    platform: str
    key: str
    count: int
    suggestion: str = ""  # a planned key it may be a misspelling of
    path: str = ""  # its JSON path, "$.content_info.curency"
    reason: str = ""  # in words, with the suggestion

    code = "unplanned_property"


@dataclass(frozen=True, slots=True)
class EventCounts:
    """Caught events: all of them, those with no failing field (good) and the rest (bad)."""

    all: int
    good: int
    bad: int


@dataclass
class Report:
    session_id: int
    session_name: str
    project_id: int
    project: str
    status: str
    source: str
    created_by: str
    started_at: datetime | None
    stopped_at: datetime | None
    stop_reason: str
    plan_version: str  # the project's last plan sync ("sync run 12, 2026-12-01 09:00 (jet)")
    accounts: tuple[str, ...]
    events: tuple[ReportEvent, ...]
    cells: list[ReportCell]
    coverage: list[CoverageLine]
    overrides: list[OverrideLine]
    unplanned: list[UnplannedLine]
    event_counts: EventCounts
    generated_at: datetime

    @property
    def cell_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(VERDICT_ORDER, 0)
        for cell in self.cells:
            counts[cell.verdict] = counts.get(cell.verdict, 0) + 1
        return counts

    @property
    def failing(self) -> list[ReportCell]:
        return [cell for cell in self.cells if cell.failed]

    @property
    def unseen(self) -> list[str]:
        return [event.name for event in self.events if not event.seen]

    @property
    def verdict(self) -> SessionVerdict:
        if self.failing:
            return SessionVerdict.FAILED
        if self.unseen:
            return SessionVerdict.INCOMPLETE
        return SessionVerdict.PASSED

    @property
    def verdict_reason(self) -> str:
        """The whole-session verdict in words."""
        failing, unseen = self.failing, self.unseen
        parts = []
        if failing:
            parts.append("1 cell failed" if len(failing) == 1 else f"{len(failing)} cells failed")
        if unseen:
            parts.append(f"never seen: {', '.join(unseen)}")
        review = self.cell_counts.get("UNCERTAIN", 0)
        if review:
            needs = "1 cell needs" if review == 1 else f"{review} cells need"
            parts.append(f"{needs} a person's look (UNCERTAIN)")
        if self.unplanned:
            # Reported, never a failure: the plan cannot say whether an extra key is wrong.
            keys = len({(u.event, u.key) for u in self.unplanned})
            parts.append(f"{keys} unplanned propert{'y' if keys == 1 else 'ies'} to review")
        if not parts:
            parts.append("every watched event seen, no field failed")
        return "; ".join(parts)

    def cells_of(self, event_id: int, platform: str) -> list[ReportCell]:
        return [c for c in self.cells if c.event_id == event_id and c.platform == platform]
