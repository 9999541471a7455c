"""A results cell is the judgement of every event caught since its last reset.

Per session x event x field x platform a cell keeps counts per verdict: all
events since the last reset (`n_*`) and those since the last override
(`o_*`, "outstanding"). Its verdict is the worst of the override's verdict
(if any) and the outstanding events' verdicts, FAIL over UNCERTAIN over
SUCCESS over UNTESTED: a FAIL stays until a person overrides or resets it,
and a failure caught after an override shows again.

This module is pure: the tally of one stored batch (`BatchTally`), which
values a live session keeps per cell (`ValueTracker`), and how a stored row
reads (`CellState`). trackmaster/sessions/cell_store.py writes and reads them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from trackmaster.checks import FieldCheck
from trackmaster.checks.unplanned import Unplanned, key_digest
from trackmaster.models import Platform, Verdict

# field_id of the row that counts whole events (by their worst field verdict).
EVENT_FIELD = 0
# Distinct values kept per cell with their count; events with other values
# are counted in `other_values` (ids and titles would otherwise make a row
# per event). The cell panel shows the most frequent of them.
VALUES_PER_CELL = 50
REASON_CHARS = 500
SUGGESTION_CHARS = 500

RANK = {Verdict.UNTESTED: 0, Verdict.SUCCESS: 1, Verdict.UNCERTAIN: 2, Verdict.FAIL: 3}
_RANK_BY_NAME = {v.value: r for v, r in RANK.items()}

CellKey = tuple[int, int, int, str]  # (session_id, event_id, field_id, platform)


def worst(verdicts: Iterable[str | Verdict]) -> Verdict:
    """The worst verdict of several (UNTESTED when there is none)."""
    best, rank = Verdict.UNTESTED, 0
    for verdict in verdicts:
        r = _RANK_BY_NAME[str(verdict)]
        if r > rank:
            best, rank = Verdict(str(verdict)), r
    return best


def log_columns(checks: Sequence[FieldCheck]) -> tuple[str, str]:
    """A stored log's `field_values` and `verdicts` JSON: {field_id: value} and
    {field_id: [verdict, reason, code]} (readers older than the code take the first two).

    Each check's two members are written once and kept on it (`stored_json`): the checks
    of enumerated and fixed fields are cached, the same object for the same value, so
    most fields of most events are two joins, not a serialisation.
    """
    values: list[str] = []
    verdicts: list[str] = []
    for check in checks:
        written = check.stored_json
        if written is None:
            key = f'"{check.field_id}":'
            written = (
                key + orjson.dumps(check.value).decode(),
                key + orjson.dumps([check.verdict, check.reason, check.code]).decode(),
            )
            object.__setattr__(check, "stored_json", written)
        values.append(written[0])
        verdicts.append(written[1])
    return "{" + ",".join(values) + "}", "{" + ",".join(verdicts) + "}"


def value_digest(kind: str, value: str | None) -> str:
    """The identity of a distinct value: its JSON kind and its text, exactly."""
    text = "\x00missing" if value is None else f"{kind}\x00{value}"
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(slots=True)
class CellTally:
    """What one batch adds to one cell (or to an event row, field_id EVENT_FIELD)."""

    caught: int = 0
    success: int = 0
    fail: int = 0
    uncertain: int = 0
    other_values: int = 0
    success_reason: str = ""
    fail_reason: str = ""
    fail_code: str = ""
    uncertain_reason: str = ""
    uncertain_code: str = ""
    last_log_id: int = 0

    def add(self, verdict: Verdict, reason: str, code: str, log_id: int) -> None:
        # Logs come in id order: the reason kept is the newest of its verdict.
        if verdict is Verdict.FAIL:
            self.fail += 1
            self.fail_reason, self.fail_code = reason[:REASON_CHARS], code
        elif verdict is Verdict.UNCERTAIN:
            self.uncertain += 1
            self.uncertain_reason, self.uncertain_code = reason[:REASON_CHARS], code
        elif verdict is Verdict.SUCCESS:
            self.success += 1
            self.success_reason = reason[:REASON_CHARS]
        if log_id > self.last_log_id:
            self.last_log_id = log_id


@dataclass(slots=True)
class ValueTally:
    kind: str
    value: str | None
    verdict: Verdict
    code: str
    reason: str
    example_log_id: int
    count: int = 0


class ValueTracker:
    """Which distinct values each cell of one live session keeps (at most VALUES_PER_CELL).

    In memory, restored from the stored CellValue rows when a session goes
    live in this process. Another process may admit values at the same time,
    so a cell can hold a few more than the cap; counts stay exact either way
    (an event whose value is not kept is counted in `other_values`).
    """

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        # (event_id, field_id, platform) -> {(kind, value): digest}
        self._kept: dict[tuple[int, int, str], dict[tuple[str, str | None], str]] = {}

    def admit(self, cell: tuple[int, int, str], kind: str, value: str | None) -> str | None:
        """The value's digest when the cell keeps it (already or now); None when it is full."""
        kept = self._kept.get(cell)
        if kept is None:
            kept = self._kept[cell] = {}
        digest = kept.get((kind, value))
        if digest is not None:
            return digest
        if len(kept) >= VALUES_PER_CELL:
            return None
        digest = kept[(kind, value)] = value_digest(kind, value)
        return digest

    def forget_event(self, event_id: int) -> None:
        """After a reset of an event: its cells start empty again."""
        for cell in [c for c in self._kept if c[0] == event_id]:
            del self._kept[cell]

    @classmethod
    def restore(cls, rows: Iterable[tuple[int, int, str, str, str | None, str]]) -> ValueTracker:
        """From stored (event_id, field_id, platform, kind, value, digest) rows."""
        tracker = cls()
        for event_id, field_id, platform, kind, value, digest in rows:
            tracker._kept.setdefault((event_id, field_id, str(platform)), {})[(kind, value)] = (
                digest
            )
        return tracker


@dataclass(slots=True)
class UnplannedTally:
    """What one batch adds to one unplanned property of an event and platform."""

    key: str
    path: str
    suggestion: str
    example_log_id: int
    last_log_id: int
    count: int = 0


@dataclass
class BatchTally:
    """The cells, distinct values and unplanned properties one batch of stored logs adds to."""

    cells: dict[CellKey, CellTally] = field(default_factory=dict)
    values: dict[tuple[int, int, int, str, str], ValueTally] = field(default_factory=dict)
    # (session_id, event_id, platform, key digest) -> its tally
    unplanned: dict[tuple[int, int, str, str], UnplannedTally] = field(default_factory=dict)

    def add_unplanned(
        self,
        session_id: int,
        event_id: int,
        platform: Platform | str,
        log_id: int,
        found: Iterable[Unplanned],
    ) -> None:
        """Count one stored log's unplanned properties (they never touch its cells)."""
        p = str(platform)
        for item in found:
            key = (session_id, event_id, p, item.digest or key_digest(item.key))
            tally = self.unplanned.get(key)
            if tally is None:
                tally = self.unplanned[key] = UnplannedTally(
                    item.key, item.path, item.suggestion[:SUGGESTION_CHARS], log_id, log_id
                )
            tally.count += 1
            if log_id > tally.last_log_id:
                tally.last_log_id = log_id

    def add_log(
        self,
        session_id: int,
        event_id: int,
        platform: Platform | str,
        log_id: int,
        checks: Iterable[FieldCheck],
        tracker: ValueTracker | None,
    ) -> None:
        """Count one stored log: each field's cell, its value, and the event row."""
        self.add_logs(session_id, event_id, platform, [(log_id, list(checks))], tracker)

    def add_logs(
        self,
        session_id: int,
        event_id: int,
        platform: Platform | str,
        logs: Sequence[tuple[int, Sequence[FieldCheck]]],
        tracker: ValueTracker | None,
    ) -> None:
        """The same as `add_log` for each (log_id, checks) of `logs`, given in id order.

        The work is done once per distinct check, not once per field of every log:
        the checks of enumerated and fixed fields are cached (the same object for the
        same value), so a batch of 100 events of 10 fields has a few dozen of them.
        tests/test_cells_batch.py holds it to the rule applied one log at a time.
        """
        p = str(platform)
        # id(check) -> [check, count, order of its last use, its first log, its last log,
        # the rank of its verdict]; every check stays referenced by `logs` meanwhile, so no
        # id is reused. The event row is counted in the same pass: each log by its worst
        # field, the first of the worst (per verdict, the last such log's check and count).
        seen: dict[int, list[Any]] = {}
        get_seen = seen.get
        order = 0
        worst_by_rank: list[Any] = [None, None, None, None]  # UNTESTED .. FAIL
        logs_by_rank = [0, 0, 0, 0]
        top = 0
        for log_id, checks in logs:
            worst_rank, worst_check = -1, None
            for check in checks:
                order += 1
                entry = get_seen(id(check))
                if entry is None:
                    entry = seen[id(check)] = [check, 1, order, log_id, log_id, RANK[check.verdict]]
                else:
                    entry[1] += 1
                    entry[2] = order
                    entry[4] = log_id
                if entry[5] > worst_rank:
                    worst_rank, worst_check = entry[5], check
            if worst_check is not None:
                logs_by_rank[worst_rank] += 1
                worst_by_rank[worst_rank] = worst_check
            if log_id > top:
                top = log_id
        cells, values = self.cells, self.values
        kept_by_cell = tracker._kept if tracker is not None else None
        # field_id -> [its cell, the values its cell keeps (None: no tracker), the order of
        # the check whose reason the cell keeps, per verdict: FAIL, UNCERTAIN, SUCCESS].
        # CellTally.add_many and ValueTracker.admit, inlined: this runs per distinct check.
        fields: dict[int, list[Any]] = {}
        for check, count, last, first_log, last_log, _ in seen.values():
            field_id = check.field_id
            state = fields.get(field_id)
            if state is None:
                key = (session_id, event_id, field_id, p)
                tally = cells.get(key)
                if tally is None:
                    tally = cells[key] = CellTally()
                kept = None
                if kept_by_cell is not None:
                    kept = kept_by_cell.get((event_id, field_id, p))
                    if kept is None:
                        kept = kept_by_cell[(event_id, field_id, p)] = {}
                state = fields[field_id] = [tally, kept, 0, 0, 0]
            tally, kept = state[0], state[1]
            verdict = check.verdict
            if verdict is Verdict.FAIL:
                tally.fail += count
                if last > state[2]:
                    state[2] = last
                    tally.fail_reason, tally.fail_code = check.reason[:REASON_CHARS], check.code
            elif verdict is Verdict.UNCERTAIN:
                tally.uncertain += count
                if last > state[3]:
                    state[3] = last
                    tally.uncertain_reason = check.reason[:REASON_CHARS]
                    tally.uncertain_code = check.code
            elif verdict is Verdict.SUCCESS:
                tally.success += count
                if last > state[4]:
                    state[4] = last
                    tally.success_reason = check.reason[:REASON_CHARS]
            if last_log > tally.last_log_id:
                tally.last_log_id = last_log
            kind, text = check.kind, check.value
            if kept is None:
                digest = value_digest(kind, text)
            else:
                digest = kept.get((kind, text))
                if digest is None:
                    if len(kept) >= VALUES_PER_CELL:
                        tally.other_values += count
                        continue
                    digest = kept[(kind, text)] = value_digest(kind, text)
            vkey = (session_id, event_id, field_id, p, digest)
            value = values.get(vkey)
            if value is None:
                value = values[vkey] = ValueTally(
                    kind, text, verdict, check.code, check.reason[:REASON_CHARS], first_log
                )
            value.count += count
        # The event row: each log counts once, by its worst field (the first of the worst).
        event_key = (session_id, event_id, EVENT_FIELD, p)
        row = cells.get(event_key)
        if row is None:
            row = cells[event_key] = CellTally()
        # Logs come in id order: the reason kept per verdict is that of the last log whose
        # worst field has it (CellTally.add, once per verdict instead of once per log).
        row.caught += len(logs)
        if top > row.last_log_id:
            row.last_log_id = top
        _, last_success, last_uncertain, last_fail = worst_by_rank
        if last_fail is not None:
            row.fail += logs_by_rank[3]
            row.fail_reason, row.fail_code = last_fail.reason[:REASON_CHARS], last_fail.code
        if last_uncertain is not None:
            row.uncertain += logs_by_rank[2]
            row.uncertain_reason = last_uncertain.reason[:REASON_CHARS]
            row.uncertain_code = last_uncertain.code
        if last_success is not None:
            row.success += logs_by_rank[1]
            row.success_reason = last_success.reason[:REASON_CHARS]


@dataclass(frozen=True, slots=True)
class EventCounts:
    """Caught events of one event on one platform: ever, and since its reset by worst verdict."""

    caught: int = 0
    since_reset: int = 0
    success: int = 0
    fail: int = 0
    uncertain: int = 0

    def by_verdict(self) -> dict[str, int]:
        return {"SUCCESS": self.success, "FAIL": self.fail, "UNCERTAIN": self.uncertain}


_WORST_FIRST = (Verdict.FAIL, Verdict.UNCERTAIN, Verdict.SUCCESS, Verdict.UNTESTED)


@dataclass(frozen=True, slots=True)
class CellState:
    """How a stored cell reads: its verdict, the counts behind it, and why."""

    verdict: Verdict
    # Outstanding counts (since the override, or the reset) and every count since the reset.
    outstanding: Mapping[str, int]
    total: Mapping[str, int]
    reason: str
    code: str
    from_override: bool
    override_id: int | None
    override_verdict: Verdict | None
    other_values: int = 0
    last_log_id: int = 0

    @property
    def outstanding_total(self) -> int:
        return sum(self.outstanding.values())

    @property
    def label(self) -> str:
        """What the cell shows: "FAIL 100 of 300", "SUCCESS 3 of 3", "UNTESTED"."""
        if self.verdict is Verdict.UNTESTED or self.from_override:
            return self.verdict.value
        count = self.outstanding[self.verdict.value]
        return f"{self.verdict.value} {count} of {self.outstanding_total}"

    @classmethod
    def untested(cls) -> CellState:
        zero = {Verdict.SUCCESS.value: 0, Verdict.FAIL.value: 0, Verdict.UNCERTAIN.value: 0}
        return cls(Verdict.UNTESTED, zero, zero, "", "", False, None, None)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CellState:
        outstanding = {
            "SUCCESS": int(row["o_success"]),
            "FAIL": int(row["o_fail"]),
            "UNCERTAIN": int(row["o_uncertain"]),
        }
        total = {
            "SUCCESS": int(row["n_success"]),
            "FAIL": int(row["n_fail"]),
            "UNCERTAIN": int(row["n_uncertain"]),
        }
        if outstanding["FAIL"]:
            seen, reason, code = Verdict.FAIL, row["fail_reason"], row["fail_code"]
        elif outstanding["UNCERTAIN"]:
            seen, reason, code = Verdict.UNCERTAIN, row["uncertain_reason"], row["uncertain_code"]
        elif outstanding["SUCCESS"]:
            seen, reason, code = Verdict.SUCCESS, row["success_reason"], ""
        else:
            seen, reason, code = Verdict.UNTESTED, "", ""
        raw_override = row.get("override_verdict")
        override = Verdict(str(raw_override)) if raw_override is not None else None
        # The override decides when it is worse than what came after it, or nothing did.
        from_override = override is not None and (
            RANK[override] > RANK[seen] or seen is Verdict.UNTESTED
        )
        verdict = override if from_override and override is not None else seen
        return cls(
            verdict, outstanding, total, str(reason or ""), str(code or ""), from_override,
            row.get("override_id"), override, int(row.get("other_values") or 0),
            int(row.get("last_log_id") or 0),
        )  # fmt: skip
