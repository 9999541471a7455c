"""Traffic for fault tests: senders that count what was acknowledged, and every answer seen.

Each sender posts batches of events with unique message ids to /collect, the
way an SDK does: a 2xx means acknowledged; a 429 or 503 must carry
Retry-After and the batch is sent again (after a short pause: the tests are
bounded in time); anything else (a 500, a transport error, a hang past the
client timeout) is recorded as a failure. Afterwards the tests compare the
acknowledged ids with what the database holds: every acknowledged event
stored, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from tests.support.realtime import play_log
from trackmaster.models import EventLog


@dataclass
class Answer:
    at_s: float  # monotonic time the answer came
    status: int  # 0: no HTTP answer (transport error or client timeout)
    retry_after: str | None
    took_s: float
    error: str = ""


@dataclass
class Traffic:
    client: httpx.AsyncClient
    write_key: str
    senders: int = 4
    batch: int = 5
    pause_s: float = 0.02
    retry_pause_s: float = 0.1
    user_id: str = "alice-42"
    acked: set[str] = field(default_factory=set)
    answers: list[Answer] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send(n)) for n in range(self.senders)]

    async def stop(self, drain_s: float = 15) -> None:
        """Stop sending new batches; a batch in flight is retried until acknowledged."""
        self._stop.set()
        done, pending = await asyncio.wait(self._tasks, timeout=drain_s)
        for task in pending:
            task.cancel()
        for task in done:
            task.result()
        assert not pending, f"{len(pending)} sender(s) could not get their batch stored"

    async def _send(self, number: int) -> None:
        while not self._stop.is_set():
            ids = [f"{number}-{uuid.uuid4().hex}" for _ in range(self.batch)]
            body = [
                {**play_log(), "user_id": self.user_id, "messageId": message_id}
                for message_id in ids
            ]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                answer = await self.post(body)
                if 200 <= answer.status < 300:
                    self.acked.update(ids)
                    break
                await asyncio.sleep(self.retry_pause_s)
            await asyncio.sleep(self.pause_s)

    async def post(self, body: list[dict]) -> Answer:
        started = time.monotonic()
        try:
            response = await self.client.post(
                "/collect", json=body, headers={"X-Write-Key": self.write_key}
            )
        except httpx.HTTPError as exc:
            answer = Answer(time.monotonic(), 0, None, time.monotonic() - started, repr(exc))
        else:
            answer = Answer(
                time.monotonic(),
                response.status_code,
                response.headers.get("retry-after"),
                time.monotonic() - started,
                "" if response.status_code < 300 else response.text[:200],
            )
        self.answers.append(answer)
        return answer

    def statuses(self, since_s: float = 0, until_s: float = float("inf")) -> Counter[int]:
        return Counter(a.status for a in self.answers if since_s <= a.at_s <= until_s)

    def first_ok_after(self, at_s: float) -> float | None:
        """Seconds from `at_s` to the first 2xx answered after it."""
        times = [a.at_s for a in self.answers if a.at_s >= at_s and 200 <= a.status < 300]
        return min(times) - at_s if times else None

    def assert_clean(self) -> None:
        """No 500s, no transport errors; every refusal said when to retry."""
        bad = [a for a in self.answers if a.status == 0 or (a.status >= 500 and a.status != 503)]
        assert not bad, f"{len(bad)} bad answer(s), e.g. {bad[:3]}"
        refused = [a for a in self.answers if a.status in (429, 503)]
        assert all(a.retry_after for a in refused), "a 429/503 without Retry-After"


async def stored_ids(session_id: int) -> Counter[str]:
    rows = await EventLog.filter(session_id=session_id).values_list("message_id", flat=True)
    return Counter(rows)


async def assert_all_stored_once(traffic: Traffic, session_id: int) -> Counter[str]:
    stored = await stored_ids(session_id)
    lost = traffic.acked - set(stored)
    duplicated = [message_id for message_id, n in stored.items() if n > 1]
    assert not lost, f"{len(lost)} acknowledged event(s) not stored"
    assert not duplicated, f"{len(duplicated)} event(s) stored twice"
    return stored


@contextlib.asynccontextmanager
async def running(traffic: Traffic):
    traffic.start()
    try:
        yield traffic
    finally:
        if not traffic._stop.is_set():
            await traffic.stop()
