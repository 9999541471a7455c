"""What pipelines need from a session: start one in one call, read what it caught, reset it.

In the spirit of Snowplow Micro (`/micro/all`, `/good`, `/bad`, `/reset`), per
session: the caught events filtered and paged newest first, and a reset that
forgets everything the session caught and judged so a test run starts clean.

An event is *good* when none of its fields failed, *bad* when at least one did.
Every filter, the verdict too, goes to the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from tortoise.expressions import RawSQL
from tortoise.transactions import in_transaction

from trackmaster.auth import audit
from trackmaster.bus import Bus
from trackmaster.errors import field_error
from trackmaster.models import (
    Account,
    CellValue,
    CoverageValue,
    Event,
    EventLog,
    ExpectedProperty,
    Field,
    Platform,
    Project,
    ResultCell,
    SessionEvent,
    TestSession,
    UnplannedProperty,
    VerdictOverride,
)
from trackmaster.sessions.lifecycle import Lifecycle
from trackmaster.sessions.publish import bump_revisions, publish_safely
from trackmaster.sessions.results import LOG_VALUES, CaughtLog, caught_log, keys_of_fields

VERDICT_FILTERS = ("good", "bad")
# A log is bad when a field's verdict is FAIL. In the stored JSON a verdict is the token
# "FAIL" in quotes; a reason or value holding those letters has its quotes escaped (\"),
# so the pattern matches verdicts only. The database scans text instead of Python
# decoding every row's JSON: 100,000 logs took 8.4 s of CPU that way. `%%` is `%` once
# the MySQL driver has formatted the query, and the same wildcard to SQLite.
_BAD = RawSQL("""CASE WHEN verdicts LIKE '%%"FAIL"%%' THEN 1 ELSE 0 END""")
MAX_NAME_CHARS = 255


# --- filtering caught events -------------------------------------------------------------


@dataclass(frozen=True)
class CaughtFilter:
    event: str | None = None
    platform: str | None = None
    user: str | None = None
    verdict: str | None = None  # "good" or "bad"
    since: datetime | None = None
    until: datetime | None = None


def _when(raw: str | None, name: str) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise field_error(
            name, f"must be an ISO 8601 time such as 2026-12-01T09:00:00Z, got {raw!r}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_filter(params: dict[str, str]) -> CaughtFilter:
    """The filter from query parameters, or a 400 naming the bad one."""
    platform = params.get("platform") or None
    if platform is not None:
        names = {p.value.lower(): p.value for p in Platform}
        if platform.lower() not in names:
            raise field_error("platform", f"must be one of iOS, Android, Other, got {platform!r}")
        platform = names[platform.lower()]
    verdict = (params.get("verdict") or "").lower() or None
    if verdict is not None and verdict not in VERDICT_FILTERS:
        raise field_error("verdict", f"must be good or bad, got {params.get('verdict')!r}")
    for name in ("event", "user"):
        if len(params.get(name) or "") > MAX_NAME_CHARS:
            raise field_error(name, f"at most {MAX_NAME_CHARS} characters")
    since, until = _when(params.get("since"), "since"), _when(params.get("until"), "until")
    if since and until and since > until:
        raise field_error("until", "must not be before since")
    return CaughtFilter(
        params.get("event") or None, platform, params.get("user") or None, verdict, since, until
    )


async def caught_events(
    session_id: int, wanted: CaughtFilter, offset: int, limit: int
) -> tuple[list[CaughtLog], int]:
    """A page of the session's caught events (cleared ones too), newest first; and the total."""
    query = EventLog.filter(session_id=session_id)
    if wanted.event:
        query = query.filter(name=wanted.event)
    if wanted.platform:
        query = query.filter(platform=wanted.platform)
    if wanted.user:
        query = query.filter(user_id=wanted.user)
    if wanted.since:
        query = query.filter(received_at__gte=wanted.since)
    if wanted.until:
        query = query.filter(received_at__lte=wanted.until)
    if wanted.verdict is not None:
        query = query.annotate(bad=_BAD).filter(bad=1 if wanted.verdict == "bad" else 0)
    total = await query.count()
    rows = await query.order_by("-id").offset(offset).limit(limit).values(*LOG_VALUES)
    keys = await keys_of_fields(row["event_id"] for row in rows)
    return [caught_log(row, keys) for row in rows], total


# --- starting a session for a pipeline ---------------------------------------------------


async def _event_ids(project_id: int, raw: Any) -> Any:
    """Event ids as given, names ("play_click") turned into the ids of the project's events."""
    if not isinstance(raw, list):
        return raw  # the lifecycle names the error
    names = [item for item in raw if isinstance(item, str)]
    if not names:
        return raw
    found: dict[str, list[int]] = {}
    for event_id, name in await Event.filter(
        name__in=names, story__project_id=project_id, removed_at__isnull=True,
        story__removed_at__isnull=True,
    ).values_list("id", "name"):  # fmt: skip
        found.setdefault(name, []).append(event_id)
    unknown = [name for name in names if name not in found]
    if unknown:
        raise field_error(
            "events", f"no event of project {project_id} is named {', '.join(map(repr, unknown))}"
        )
    ambiguous = [name for name in names if len(found[name]) > 1]
    if ambiguous:
        raise field_error(
            "events",
            f"several events of project {project_id} are named {', '.join(map(repr, ambiguous))};"
            " give their ids",
        )
    return [found[item][0] if isinstance(item, str) else item for item in raw]


async def _create_accounts(project_id: int, raw: Any) -> None:
    if not isinstance(raw, list):
        return
    wanted = [item for item in raw if isinstance(item, str) and 0 < len(item) <= 128]
    have = set(
        cast(
            list[str],
            await Account.filter(project_id=project_id, user_id__in=wanted).values_list(
                "user_id", flat=True
            ),
        )
    )
    for user_id in dict.fromkeys(wanted):
        if user_id not in have:
            await Account.create(project_id=project_id, user_id=user_id, description="CI account")


async def start_for_ci(
    lifecycle: Lifecycle, body: dict[str, Any], *, by: str
) -> tuple[TestSession, str]:
    """Start a session from one request; returns it and its project's write key."""
    project_id = body.get("project")
    if isinstance(project_id, bool) or not isinstance(project_id, int):
        raise field_error("project", f"must be a project id (a number), got {project_id!r}")
    create = body.get("createAccounts", False)
    if not isinstance(create, bool):
        raise field_error("createAccounts", "must be true or false")
    # Before names are looked up or accounts added: both need the project (a new account of
    # a missing project failed its foreign key, a 500 the fuzzer found).
    if not await Project.exists(id=project_id):
        raise field_error("project", f"no project with id {project_id}")
    events = await _event_ids(project_id, body.get("events"))
    options: dict[str, Any] = {
        "name": str(body.get("name") or "")[:200], "source": body.get("source"),
        "limit_s": body.get("limitS"), "created_by": by,
    }  # fmt: skip
    if not create:
        session = await lifecycle.start(
            project_id, body.get("accounts"), events, body.get("stories"), **options
        )
    else:
        # New accounts and the session together, or neither (a refused start adds nobody).
        async with in_transaction():
            await _create_accounts(project_id, body.get("accounts"))
            session = await lifecycle.start(
                project_id, body.get("accounts"), events, body.get("stories"), **options
            )
        # The start refreshed the live index inside our transaction; a reload between that
        # and our commit would have missed the session: refresh again now that it is there.
        lifecycle.index.invalidate(project_id)
    await session.fetch_related("project")
    return session, session.project.write_key


# --- reset -------------------------------------------------------------------------------


async def reset_session(
    bus: Bus, lifecycle: Lifecycle, session: TestSession, by: str
) -> dict[str, int]:
    """Forget every caught event, verdict, override and coverage value of the session."""
    async with in_transaction() as conn:
        logs = await EventLog.filter(session_id=session.id).delete()
        coverage = await CoverageValue.filter(session_id=session.id).delete()
        overrides = await VerdictOverride.filter(session_id=session.id).delete()
        # The cells count the deleted logs: they start again from nothing too.
        await ResultCell.filter(session_id=session.id).delete()
        await CellValue.filter(session_id=session.id).delete()
        # Unplanned properties are counted from the deleted logs; marks are the tester's
        # decisions about them, forgotten with the overrides.
        await UnplannedProperty.filter(session_id=session.id).delete()
        await ExpectedProperty.filter(session_id=session.id).delete()
        revisions = await bump_revisions(conn, [session.id])
        counts = {"logs": logs, "coverage": coverage, "overrides": overrides}
        await audit.record(by or None, "session.reset", f"session:{session.id}", **counts)
    # The live index keeps coverage in memory: it must forget what the database forgot.
    lifecycle.index.forget_coverage(session.id)
    lifecycle.index.forget_values(session.id)
    lifecycle.index.invalidate(session.project_id)
    cells = await _cells(session.id)
    revision = revisions[session.id]
    await publish_safely(
        bus, session.id,
        {"type": "cleared", "session": session.id, "revision": revision, "cleared": logs},
    )  # fmt: skip
    await publish_safely(
        bus, session.id,
        {"type": "results", "session": session.id, "revision": revision, "changed": cells},
    )  # fmt: skip
    return counts


async def _cells(session_id: int) -> list[list[Any]]:
    event_ids = await SessionEvent.filter(session_id=session_id).values_list("event_id", flat=True)
    rows = await Field.filter(event_id__in=list(event_ids), removed_at__isnull=True).values_list(
        "event_id", "id"
    )
    return [[event_id, field_id, p.value] for event_id, field_id in rows for p in Platform]
