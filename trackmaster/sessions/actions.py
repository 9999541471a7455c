"""What a tester does to a session's results: clear logs, override a verdict, reset an event.

Each action is kept with who did it, when and why: overrides and resets as
VerdictOverride rows (never deleted), clearing in the audit log. Clearing
hides logs from the log list; it does not change results.
"""

from __future__ import annotations

from typing import Any, cast

from tortoise.functions import Max
from tortoise.transactions import in_transaction

from trackmaster.auth import audit
from trackmaster.bus import Bus
from trackmaster.errors import InvalidParams, field_error
from trackmaster.models import (
    AuditEntry,
    EventLog,
    Field,
    Platform,
    SessionEvent,
    TestSession,
    Verdict,
    VerdictOverride,
)
from trackmaster.sessions import cell_store
from trackmaster.sessions.live import LiveIndex
from trackmaster.sessions.publish import bump_revisions, publish_safely

PLATFORM_NAMES = {p.value.lower(): p for p in Platform}
VERDICT_NAMES = {v.value: v for v in Verdict}
MAX_REASON_CHARS = 2000


async def clear_logs(bus: Bus, session: TestSession, by: str) -> int:
    """Hide every log not yet cleared; returns how many were hidden."""
    async with in_transaction() as conn:
        cleared = await EventLog.filter(session_id=session.id, cleared=False).update(cleared=True)
        revisions = await bump_revisions(conn, [session.id])
        await AuditEntry.create(
            actor=by[:150] or "anonymous",
            action="session.clear_logs",
            target=f"session:{session.id}",
            details={"cleared": cleared},
        )
    await publish_safely(
        bus,
        session.id,
        {"type": "cleared", "session": session.id, "revision": revisions[session.id],
         "cleared": cleared},
    )  # fmt: skip
    return cleared


def _reason(raw: Any, where: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str):
        raise field_error(where, "must be a string")
    if len(raw) > MAX_REASON_CHARS:
        raise field_error(where, f"at most {MAX_REASON_CHARS} characters")
    return raw.strip()


def _verdict(raw: Any, where: str) -> Verdict:
    verdict = VERDICT_NAMES.get(raw.upper()) if isinstance(raw, str) else None
    if verdict is None:
        raise field_error(where, f"must be one of {', '.join(VERDICT_NAMES)}, got {raw!r}")
    return verdict


def _platform(raw: Any, where: str) -> Platform:
    platform = PLATFORM_NAMES.get(raw.lower()) if isinstance(raw, str) else None
    if platform is None:
        names = ", ".join(p.value for p in Platform)
        raise field_error(where, f"must be one of {names}, got {raw!r}")
    return platform


def parse_field_results(raw: Any) -> list[tuple[int, Platform, Verdict, str]]:
    """`[{"id": field, "results": {"iOS": "SUCCESS"} | [{"platform", "verdict"}], "reason"?}]`.

    Also takes the original's `result` for `verdict`. Returns (field, platform, verdict, reason).
    """
    if not isinstance(raw, list) or not raw:
        raise field_error("fields", "must be a non-empty list of fields with their results")
    wanted: list[tuple[int, Platform, Verdict, str]] = []
    for n, item in enumerate(raw):
        where = f"fields[{n}]"
        if not isinstance(item, dict):
            raise field_error(where, "must be an object with id and results")
        field_id = item.get("id")
        if isinstance(field_id, bool) or not isinstance(field_id, int):
            raise field_error(f"{where}.id", f"must be a field id (a number), got {field_id!r}")
        reason = _reason(item.get("reason"), f"{where}.reason")
        results = item.get("results")
        # (platform, verdict, where the platform is, where the verdict is, reason)
        pairs: list[tuple[Any, Any, str, str, str]] = []
        if isinstance(results, dict):
            pairs = [
                (k, v, f"{where}.results", f"{where}.results.{k}", reason)
                for k, v in results.items()
            ]
        elif isinstance(results, list):
            for m, result in enumerate(results):
                at = f"{where}.results[{m}]"
                if not isinstance(result, dict):
                    raise field_error(at, "must be an object with platform and verdict")
                verdict = result.get("verdict", result.get("result"))
                own = _reason(result.get("reason"), f"{at}.reason") or reason
                pairs.append((result.get("platform"), verdict, f"{at}.platform", at, own))
        else:
            raise field_error(f"{where}.results", "must map platforms to verdicts")
        if not pairs:
            raise field_error(f"{where}.results", "give at least one platform's verdict")
        for platform, verdict, platform_at, verdict_at, own in pairs:
            wanted.append(
                (field_id, _platform(platform, platform_at), _verdict(verdict, verdict_at), own)
            )
    return wanted


def _platforms(platform: Platform | None) -> tuple[str, ...]:
    return tuple(p.value for p in Platform) if platform is None else (platform.value,)


async def _newest_log_id(session_id: int) -> int:
    rows = cast(
        list[int | None],
        await EventLog.filter(session_id=session_id)
        .annotate(m=Max("id"))
        .values_list("m", flat=True),
    )
    return int(rows[0] or 0) if rows else 0


async def override_fields(
    bus: Bus, session: TestSession, raw_fields: Any, by: str
) -> list[VerdictOverride]:
    wanted = parse_field_results(raw_fields)
    field_ids = sorted({field_id for field_id, *_ in wanted})
    watched = set(
        await SessionEvent.filter(session_id=session.id).values_list("event_id", flat=True)
    )
    event_of = dict(
        await Field.filter(id__in=field_ids, event_id__in=sorted(watched)).values_list(
            "id", "event_id"
        )
    )
    unknown = [field_id for field_id in field_ids if field_id not in event_of]
    if unknown:
        raise InvalidParams(
            f"fields: not fields of the events session {session.id} watches: "
            f"{', '.join(map(str, unknown))}",
            details=[{"field": "fields", "error": "unknown field ids", "ids": unknown}],
        )
    async with in_transaction() as conn:
        # The session row first (as ingest does): batches of this session wait for
        # the override, so it covers exactly the logs committed before it.
        revisions = await bump_revisions(conn, [session.id])
        after = await _newest_log_id(session.id)
        rows = []
        for field_id, platform, verdict, reason in wanted:
            row = await VerdictOverride.create(
                session_id=session.id, event_id=event_of[field_id], field_id=field_id,
                kind="override", platform=platform, verdict=verdict, reason=reason,
                created_by=by[:150], after_log_id=after, using_db=conn,
            )  # fmt: skip
            cells = [(event_of[field_id], field_id, p) for p in _platforms(platform)]
            await cell_store.apply_override(conn, session.id, cells, row.id, verdict)
            rows.append(row)
        await audit.record(
            by or None,
            "verdict.override",
            f"session:{session.id}",
            fields=[
                {"field": f, "platform": p.value, "verdict": v.value, "reason": r[:200]}
                for f, p, v, r in wanted[:50]
            ],
        )
    changed = sorted({(event_of[f], f, p.value) for f, p, _, _ in wanted})
    await publish_safely(
        bus,
        session.id,
        {"type": "results", "session": session.id, "revision": revisions[session.id],
         "changed": [list(cell) for cell in changed]},
    )  # fmt: skip
    return rows


async def reset_event(
    bus: Bus,
    session: TestSession,
    event_id: Any,
    reason: Any,
    by: str,
    *,
    index: LiveIndex | None = None,
) -> VerdictOverride:
    """Reset every cell of an event to UNTESTED: counts, overrides and kept values start again.

    `index`: this process's live index, which forgets the session's kept values
    (other processes reload theirs with their next snapshot of the session).
    """
    if isinstance(event_id, bool) or not isinstance(event_id, int):
        raise field_error("event", f"must be an event id (a number), got {event_id!r}")
    reason_text = _reason(reason, "reason")
    if not await SessionEvent.exists(session_id=session.id, event_id=event_id):
        raise field_error("event", f"event {event_id} is not watched by session {session.id}")
    async with in_transaction() as conn:
        revisions = await bump_revisions(conn, [session.id])
        after = await _newest_log_id(session.id)
        reset = await VerdictOverride.create(
            session_id=session.id, event_id=event_id, field_id=None, kind="reset",
            platform=None, verdict=Verdict.UNTESTED, reason=reason_text,
            created_by=by[:150], after_log_id=after, using_db=conn,
        )  # fmt: skip
        await cell_store.apply_reset(conn, session.id, event_id)
        await audit.record(
            by or None, "verdict.reset", f"session:{session.id}", event=event_id, reason=reason_text
        )
    if index is not None:
        index.forget_values(session.id)
    await publish_safely(
        bus,
        session.id,
        {"type": "results", "session": session.id, "revision": revisions[session.id],
         "reset_event": event_id, "changed": []},
    )  # fmt: skip
    return reset
