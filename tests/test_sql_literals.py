"""The hot path's own MariaDB literals (trackmaster/sessions/_sql.py) store every text exactly.

Rows go in through `_sql.insert_rows` inside a transaction (where the literals are
written by `mysql_literals` on MariaDB, and bound as parameters on SQLite) and are
read back through the ORM: every character that a quoted literal treats specially,
the format markers of the statement itself, and arbitrary Unicode from hypothesis,
in both of MariaDB's backslash modes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import Enum, IntEnum

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise.transactions import in_transaction

from trackmaster.models import Project, UnmatchedEvent
from trackmaster.sessions import _sql
from trackmaster.sessions.ingest import UNMATCHED_COLUMNS

TRICKY = [
    "plain", "", "it's", "\\", "\\'", "'\\", "a\\nb", "\n", "\r\n", "\x00", "nul\x00mid",
    "\x1a", '"quoted"', "%s", "%%s %(x)s", "100%", "--", "'; DROP TABLE project; --",
    "ünïcødé", "表情😀", "\\\\\\'", "\t\b\f", "\u2028", "\x1f", "a\x1fb'",
]  # fmt: skip


async def store_and_read(project_id: int, texts: list[str], backslash_plain: bool) -> list:
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    rows = [(project_id, text[:255], text[:128], "iOS", "collect", "r", at, text) for text in texts]
    async with in_transaction() as conn:
        if backslash_plain:
            await conn.execute_script(
                "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"
            )
        try:
            await _sql.insert_rows(conn, "unmatched_event", UNMATCHED_COLUMNS, rows)
        finally:
            if backslash_plain:
                await conn.execute_script(
                    "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')"
                )
    stored = await UnmatchedEvent.filter(project_id=project_id).order_by("id")
    await UnmatchedEvent.filter(project_id=project_id).delete()
    return stored


@pytest.mark.parametrize("backslash_plain", [False, True])
async def test_every_special_character_is_stored_exactly(settings, backslash_plain: bool) -> None:
    if backslash_plain and not settings.uses_mysql:
        pytest.skip("a MariaDB SQL mode")
    project = await Project.create(name="literals")
    stored = await store_and_read(project.id, TRICKY, backslash_plain)
    assert [row.payload for row in stored] == TRICKY
    assert [row.name for row in stored] == [t[:255] for t in TRICKY]
    assert {row.received_at for row in stored} == {
        datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    }


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.text(st.characters(blacklist_categories=["Cs"]), max_size=40), min_size=1,
                max_size=8))  # fmt: skip
async def test_any_text_is_stored_exactly(db, settings, texts: list[str]) -> None:
    project = await Project.get_or_create(name="literals-any")
    for backslash_plain in (False, True) if settings.uses_mysql else (False,):
        stored = await store_and_read(project[0].id, texts, backslash_plain)
        assert [row.payload for row in stored] == texts


def test_literals_of_each_type_are_what_the_driver_writes() -> None:
    """Beside the round trips: ints, None, bools, and datetimes are aiomysql's own text."""

    class Raw:
        server_status = 0

        def escape(self, value):
            return f"<{value!r}>"

    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert _sql.mysql_literals(Raw(), [7, None, True, False, "a'b", at, at, 1.5]) == (
        "7", "NULL", "1", "0", "'a\\'b'", f"<{at!r}>", f"<{at!r}>", "<1.5>",
    )  # fmt: skip


def test_a_value_the_literals_cannot_write_safely_is_refused() -> None:
    """aiomysql's fallback (str() with backslashes, even when they are plain) is never used."""

    class Raw:
        server_status = 0x0200  # NO_BACKSLASH_ESCAPES: a backslash is an ordinary character

        def escape(self, value):
            return f"<{value!r}>"

    class Kind(str, Enum):  # noqa: UP042 - the mixin whose str() is "Kind.A", not its text
        A = "it's"

    class Level(IntEnum):
        HIGH = 3

    assert _sql.mysql_literals(Raw(), [Kind.A]) == ("'it''s'",)
    with pytest.raises(TypeError, match="bytearray"):
        _sql.mysql_literals(Raw(), [bytearray(b"ba\\'")])
    with pytest.raises(TypeError, match="Level"):
        _sql.mysql_literals(Raw(), [Level.HIGH])
    with pytest.raises(ValueError, match="must be UTC"):
        _sql.mysql_literals(Raw(), [datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=5)))])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.sampled_from("ab'\\\x00\n\r\x1a\x1f\"%"), max_size=6), max_size=8))
def test_texts_escaped_together_are_each_escaped_alone(texts: list[str]) -> None:
    """The literals escape a statement's texts joined (_sql._quoted); each must come out as
    if escaped alone, in both backslash modes, even a text holding the join's separator."""
    for plain in (False, True):
        assert _sql._quoted(texts, plain) == [_sql._quote_one(t, plain) for t in texts]
        assert _sql._quote_one("a'\\b", plain) == ("'a''\\b'" if plain else "'a\\'\\\\b'")
