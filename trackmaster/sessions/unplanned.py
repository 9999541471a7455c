"""Unplanned properties of a session: read them per event and platform, mark them expected.

Ingest counts them (trackmaster/checks/unplanned.py finds them, the batch's
transaction upserts `unplanned_property`); an event's reset clears them with
its cells, a re-judge recomputes them. A tester can mark a key of an event as
expected in this session: it then stops showing (its count is still kept, so
taking the mark back shows it again with every event counted). Marks are
audited like overrides and told to live pages like any result change.

An unplanned property never changes a cell's verdict: it is its own check,
UNCERTAIN with code `unplanned_property` ("a person must look").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from trackmaster.auth import audit
from trackmaster.bus import Bus
from trackmaster.checks import Code
from trackmaster.checks.lookup import key_parts
from trackmaster.checks.unplanned import (
    TOO_MANY_KEY,
    Unplanned,
    find_unplanned,
    key_digest,
    key_text,
    root_for,
)
from trackmaster.errors import field_error
from trackmaster.models import (
    ExpectedProperty,
    Field,
    Platform,
    SessionEvent,
    TestSession,
    UnplannedProperty,
    Verdict,
)
from trackmaster.sessions.plans import load_event_plans
from trackmaster.sessions.publish import bump_revisions, publish_safely
from trackmaster.sources import CaughtEvent

MAX_KEY_CHARS = 1000
MAX_REASON_CHARS = 2000
# Properties listed per event at most (most frequent first); the rest are counted.
LISTED_PER_EVENT = 200
# Rows read per session for a page or a frame at most: an app that sends a new key with
# every event (a map keyed by ids) must not make every live frame read them all.
READ_ROWS = 2000


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def property_json(row: dict[str, Any]) -> dict[str, Any]:
    item = Unplanned(row["key"], row["path"], row["suggestion"] or "")
    return {
        "platform": str(row["platform"]),
        "key": row["key"],
        "path": row["path"],
        "count": int(row["count"]),
        "suggestion": row["suggestion"] or "",
        "verdict": Verdict.UNCERTAIN.value,
        "code": Code.UNPLANNED_PROPERTY,
        "reason": item.reason,
        "exampleLogId": int(row["example_log_id"]) or None,
        "lastLogId": int(row["last_log_id"]) or None,
    }


async def load_unplanned(session_id: int) -> dict[int, dict[str, Any]]:
    """Per event id: {"unplanned": [...], "unplannedMore": n, "expected": [...]}.

    `unplanned` leaves out keys marked expected; most frequent first.
    """
    marks: dict[int, dict[str, dict[str, Any]]] = {}
    for row in (
        await ExpectedProperty.filter(session_id=session_id)
        .order_by("id")
        .values("event_id", "digest", "key", "reason", "created_by", "created_at")
    ):
        marks.setdefault(row["event_id"], {})[row["digest"]] = {
            "key": row["key"], "reason": row["reason"], "by": row["created_by"],
            "at": _iso(row["created_at"]),
        }  # fmt: skip
    found: dict[int, dict[str, Any]] = {}
    rows = (
        await UnplannedProperty.filter(session_id=session_id)
        .order_by("-count", "id")
        .limit(READ_ROWS)
        .values(
            "event_id", "platform", "digest", "key", "path", "suggestion", "count",
            "example_log_id", "last_log_id",
        )
    )  # fmt: skip
    for row in rows:
        entry = found.setdefault(row["event_id"], {"unplanned": [], "unplannedMore": 0})
        if row["digest"] in marks.get(row["event_id"], {}):
            continue
        if len(entry["unplanned"]) < LISTED_PER_EVENT:
            entry["unplanned"].append(property_json(row))
        else:
            entry["unplannedMore"] += 1
    if len(rows) == READ_ROWS:
        await _count_the_rest(session_id, marks, found)
    for event_id, by_digest in marks.items():
        entry = found.setdefault(event_id, {"unplanned": [], "unplannedMore": 0})
        entry["expected"] = list(by_digest.values())
    return found


async def _count_the_rest(
    session_id: int, marks: dict[int, dict[str, Any]], found: dict[int, dict[str, Any]]
) -> None:
    """More rows than read: each event's `unplannedMore` counted exactly in the database."""
    totals = (
        await UnplannedProperty.filter(session_id=session_id)
        .annotate(n=Count("id"))
        .group_by("event_id")
        .values_list("event_id", "n")
    )
    for event_id, total in totals:
        by_digest = marks.get(event_id) or {}
        hidden = (
            await UnplannedProperty.filter(
                session_id=session_id, event_id=event_id, digest__in=list(by_digest)
            ).count()
            if by_digest
            else 0
        )
        entry = found.setdefault(event_id, {"unplanned": [], "unplannedMore": 0})
        entry["unplannedMore"] = int(total) - hidden - len(entry["unplanned"])


async def unplanned_of_logs(
    session_id: int, logs: Sequence[tuple[int, str, Any]]
) -> list[list[dict[str, Any]]]:
    """Each caught log's own unplanned properties, as checks, in the order of `logs`
    (each `(event_id, source, payload)`).

    Found again from the stored payload with the current plan (a page of logs at a
    time): `{key, path, suggestion, verdict, code, reason, expected}`, `expected` true
    when a tester marked the key expected in this session.
    """
    if not logs:
        return []
    plans = await load_event_plans({int(event_id) for event_id, _, _ in logs})
    marked = {
        (event_id, digest)
        for event_id, digest in await ExpectedProperty.filter(session_id=session_id).values_list(
            "event_id", "digest"
        )
    }
    answers: list[list[dict[str, Any]]] = []
    for event_id, source, raw in logs:
        plan = plans.get(int(event_id))
        payload = _payload(raw)
        if plan is None or payload is None:
            answers.append([])
            continue
        style = CaughtEvent("", "", Platform.OTHER, payload, source, None, None).lookup_style
        found = find_unplanned(plan.planned, payload, root_for(source, style))
        answers.append([
            {
                "key": u.key, "path": u.path, "suggestion": u.suggestion,
                "verdict": Verdict.UNCERTAIN.value, "code": Code.UNPLANNED_PROPERTY,
                "reason": u.reason, "expected": (plan.event_id, u.digest) in marked,
            }
            for u in found
        ])  # fmt: skip
    return answers


def _payload(raw: Any) -> Any:
    if isinstance(raw, dict):
        return raw
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        try:
            return json.loads(raw)  # stored by the exact parser (huge integers)
        except (ValueError, TypeError):
            return None


async def _checked(session: TestSession, event_id: Any, key: Any) -> tuple[int, str]:
    if isinstance(event_id, bool) or not isinstance(event_id, int) or not 1 <= event_id < 2**31:
        raise field_error("event", f"must be an event id (a number), got {event_id!r}")
    if not isinstance(key, str) or not key.strip():
        raise field_error("key", "must be the property's key, a non-empty text")
    if len(key) > MAX_KEY_CHARS:
        raise field_error("key", f"at most {MAX_KEY_CHARS} characters")
    if key == TOO_MANY_KEY:
        raise field_error("key", "is TrackMaster's note about a payload too big to read whole")
    # As the results write it: "content_info$$curency" is "content_info.curency".
    key = key_text(key_parts(key))
    if not await SessionEvent.exists(session_id=session.id, event_id=event_id):
        raise field_error("event", f"event {event_id} is not watched by session {session.id}")
    planned = await Field.filter(event_id=event_id, removed_at__isnull=True).values_list(
        "key", flat=True
    )
    if any(key_parts(p) == key_parts(key) for p in planned):
        raise field_error("key", f"{key!r} is a planned field of event {event_id}, not unplanned")
    return event_id, key


async def mark_expected(
    bus: Bus, session: TestSession, event_id: Any, key: Any, reason: Any, by: str
) -> tuple[dict[str, Any], bool]:
    """Mark a key of an event as expected in this session; (the mark, whether it is new)."""
    event_id, key = await _checked(session, event_id, key)
    if reason is not None and not isinstance(reason, str):
        raise field_error("reason", "must be a string")
    reason_text = (reason or "").strip()
    if len(reason_text) > MAX_REASON_CHARS:
        raise field_error("reason", f"at most {MAX_REASON_CHARS} characters")
    digest = key_digest(key)
    async with in_transaction() as conn:
        revisions = await bump_revisions(conn, [session.id])
        mark = (
            await ExpectedProperty.filter(session_id=session.id, event_id=event_id, digest=digest)
            .using_db(conn)
            .first()
        )
        created = mark is None
        if mark is None:
            mark = await ExpectedProperty.create(
                session_id=session.id, event_id=event_id, digest=digest, key=key,
                reason=reason_text, created_by=by[:150], using_db=conn,
            )  # fmt: skip
            await audit.record(
                by or None, "property.expected", f"session:{session.id}", event=event_id,
                key=key[:200], reason=reason_text[:200],
            )  # fmt: skip
    if created:
        await _tell(bus, session.id, revisions[session.id])
    return _mark_json(mark, event_id), created


async def unmark_expected(bus: Bus, session: TestSession, event_id: Any, key: Any, by: str) -> bool:
    """Take a mark back (the property shows again); False when there was none."""
    event_id, key = await _checked(session, event_id, key)
    async with in_transaction() as conn:
        revisions = await bump_revisions(conn, [session.id])
        removed = (
            await ExpectedProperty.filter(
                session_id=session.id, event_id=event_id, digest=key_digest(key)
            )
            .using_db(conn)
            .delete()
        )
        if removed:
            await audit.record(
                by or None, "property.unexpected", f"session:{session.id}", event=event_id,
                key=key[:200],
            )  # fmt: skip
    if removed:
        await _tell(bus, session.id, revisions[session.id])
    return bool(removed)


def _mark_json(mark: ExpectedProperty, event_id: int) -> dict[str, Any]:
    return {
        "session": mark.session_id,
        "event": event_id,
        "key": mark.key,
        "reason": mark.reason,
        "by": mark.created_by,
        "at": _iso(mark.created_at),
    }


async def _tell(bus: Bus, session_id: int, revision: int) -> None:
    await publish_safely(
        bus,
        session_id,
        {"type": "results", "session": session_id, "revision": revision, "changed": [],
         "unplanned": True},
    )  # fmt: skip
