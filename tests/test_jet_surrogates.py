"""A Jet log holding half an emoji (a lone UTF-16 surrogate) is kept, mended, and blocks nothing.

Before: Python's json decoded the escape into a string UTF-8 cannot encode, the batch's
write failed, and since the oldest staged group is judged first on every poll, no later
Jet log of that session was ever stored (found by review).
"""

from __future__ import annotations

import json

from tests.support.realtime import play_log
from tests.test_sessions_ingest_groups import live
from trackmaster.models import EventLog
from trackmaster.sessions import jet_staging
from trackmaster.sources.jet import parse_jet_log
from trackmaster.sources.mend import mend

HALF = "ab\ud83d"  # json.dumps writes it as the escape \ud83d


def _item(n: int, log: object) -> dict:
    return {"id": n, "event": "play_click", "userId": "alice-42", "log": log}


def test_a_lone_surrogate_becomes_a_replacement_character_and_pairs_are_joined() -> None:
    event = parse_jet_log(_item(1, json.dumps(play_log(title=HALF, ok="\U0001f600"))))
    assert event.payload["title"] == "ab\ufffd" and event.payload["ok"] == "\U0001f600"
    # Already decoded by a lenient sender, in a key too; the halves of a pair side by side
    # (as a string built from UTF-16 units) are one character again.
    event = parse_jet_log(_item(2, {**play_log(), "t\udc00": "\ud83d\ude00"}))
    assert event.payload["t\ufffd"] == "\U0001f600"
    clean = play_log()
    assert mend(clean) == clean
    json.dumps(parse_jet_log(_item(3, json.dumps(clean))).payload).encode()


async def test_a_staged_log_with_half_an_emoji_is_stored_and_the_rest_after_it(db) -> None:
    plan, session, ingestor, _ = await live("surrogate", True)

    async def ingest(events, received_at, also):
        return await ingestor.ingest(
            plan.project.id, events, received_at=received_at, also_in_transaction=also
        )

    items = [_item(1, json.dumps(play_log(title=HALF)))]
    items += [_item(n, json.dumps(play_log())) for n in range(2, 6)]
    # The outer item decoded with a lone surrogate too (Jet's answer escaped it).
    items.append({**_item(6, json.dumps(play_log())), "userId": "alice-42", "note": HALF})
    await jet_staging.stage(session.id, items)
    report = await jet_staging.judge(session.id, ingest)
    assert report.stored == 6 and not await jet_staging.staged(session.id)
    logs = await EventLog.filter(session_id=session.id, message_id="1").values_list(
        "payload", flat=True
    )
    payload = logs[0] if isinstance(logs[0], dict) else json.loads(logs[0])
    assert payload["title"] == "ab\ufffd"


async def test_a_log_that_cannot_be_stored_holds_back_no_other_log(db) -> None:
    # Whatever the cause, the oldest group is judged first on every poll: a log that fails
    # its group must not stop the others. Here the one with Jet id 1 always fails.
    plan, session, ingestor, _ = await live("stuck", True)

    async def ingest(events, received_at, also):
        if any(event.message_id == "1" for event in events):
            raise ValueError("this log cannot be stored")
        return await ingestor.ingest(
            plan.project.id, events, received_at=received_at, also_in_transaction=also
        )

    await jet_staging.stage(session.id, [_item(n, json.dumps(play_log())) for n in range(1, 6)])
    for _ in range(2):  # two polls: the others are stored once, the bad one waits
        await jet_staging.judge(session.id, ingest)
    stored = await EventLog.filter(session_id=session.id).values_list("message_id", flat=True)
    assert sorted(stored) == ["2", "3", "4", "5"]
    assert [row.item["id"] for row in await jet_staging.staged(session.id)] == [1]
