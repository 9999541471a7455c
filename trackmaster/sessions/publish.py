"""Tell live pages what changed: bump the session's revision in the transaction, publish after.

Messages go to the bus channel `session:{id}` (see docs/realtime.md). The
revision is bumped inside the transaction that made the change, so a page
that reconnects can ask for everything after the revision it last saw.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from trackmaster.bus import Bus
from trackmaster.sessions import _sql

log = logging.getLogger(__name__)


def channel(session_id: int) -> str:
    return f"session:{session_id}"


async def bump_revisions(conn: BaseDBAsyncClient, session_ids: Sequence[int]) -> dict[int, int]:
    """Add one to each session's revision; returns the new revisions."""
    return await _sql.run(conn, bump_steps(conn, session_ids))


def bump_steps(conn: BaseDBAsyncClient, session_ids: Sequence[int]) -> _sql.Steps[dict[int, int]]:
    """The statements of `bump_revisions`, as `_sql.Steps`."""
    if not session_ids:
        return {}
    where = f"id IN {_sql.in_list(conn, session_ids)}"
    table = _sql.quote(conn, "test_session")
    bump = f"UPDATE {table} SET revision = revision + 1 WHERE {where}"
    if _sql.is_mysql(conn) and len(session_ids) == 1:  # the usual case: one round trip
        revised = f"UPDATE {table} SET revision = LAST_INSERT_ID(revision + 1) WHERE {where}"
        revision = yield _sql.LastId(revised, list(session_ids))
        return {int(session_ids[0]): revision} if revision else {}  # 0: no such session
    if _sql.is_mysql(conn):  # MariaDB has no UPDATE ... RETURNING
        yield bump, list(session_ids)
        # Our UPDATE holds the rows' locks until commit: this read sees our own bump.
        rows = yield f"SELECT id, revision FROM {table} WHERE {where}", list(session_ids)
    else:  # one statement: on SQLite each is a hop to the connection's thread
        rows = yield f"{bump} RETURNING id, revision", list(session_ids)
    ids, revisions = _sql.column(rows, 0, "id"), _sql.column(rows, 1, "revision")
    return dict(zip(map(int, ids), map(int, revisions), strict=True))


async def publish_safely(bus: Bus, session_id: int, message: dict[str, Any]) -> None:
    """Publish after a commit; a bus failure must not turn stored work into an error."""
    try:
        await bus.publish(channel(session_id), message)
    except Exception as exc:
        log.warning("bus: cannot publish to %s: %s", channel(session_id), exc)
