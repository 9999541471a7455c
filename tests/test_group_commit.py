"""Group commit (trackmaster/sessions/group_commit.py): batches waiting while a transaction
runs share the next one; each caller is answered only after its own group's write ended,
and a failing group takes nobody down (each of its batches is told to go alone)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from trackmaster.sessions.group_commit import GroupCommit, GroupFailed


class Writer:
    """A write whose transactions the test opens and closes: `gate` holds the running one."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.groups: list[list[str]] = []
        self.committed: list[str] = []
        self.gate = asyncio.Event()
        self.fail_on = fail_on

    async def write(self, items: Sequence[str]) -> list[str]:
        self.groups.append(list(items))
        await self.gate.wait()
        if self.fail_on in items:
            raise RuntimeError(f"{self.fail_on} cannot be written")
        self.committed.extend(items)
        return [f"stored {item}" for item in items]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_batches_waiting_during_a_transaction_share_the_next_and_wait_for_its_commit():
    writer = Writer()
    groups = GroupCommit(writer.write)
    first = asyncio.create_task(groups.store("a"))
    await settle()  # "a" is being written alone; b and c arrive meanwhile
    later = [asyncio.create_task(groups.store(x)) for x in ("b", "c")]
    await settle()
    assert writer.groups == [["a"]]
    assert not first.done() and not any(t.done() for t in later)  # nothing answered before commit
    writer.gate.set()
    assert await first == "stored a"
    assert await asyncio.gather(*later) == ["stored b", "stored c"]
    assert writer.groups == [["a"], ["b", "c"]]
    assert writer.committed == ["a", "b", "c"]
    assert (groups.groups, groups.batches) == (2, 3)


async def test_both_batches_of_a_group_are_answered_only_after_it_is_durable():
    writer = Writer()
    groups = GroupCommit(writer.write)
    blocker = asyncio.create_task(groups.store("x"))
    await settle()
    both = [asyncio.create_task(groups.store(x)) for x in ("a", "b")]
    writer.gate.set()
    await blocker
    # x's transaction ended; a and b are in the next one, which the gate lets through at once
    results = await asyncio.gather(*both)
    assert results == ["stored a", "stored b"]
    assert set(writer.committed) >= {"a", "b"}


async def test_a_failing_group_tells_each_batch_to_go_alone_and_a_lone_batch_its_error():
    writer = Writer(fail_on="bad")
    groups = GroupCommit(writer.write)
    blocker = asyncio.create_task(groups.store("x"))
    await settle()
    good, bad = asyncio.create_task(groups.store("good")), asyncio.create_task(groups.store("bad"))
    writer.gate.set()
    assert await blocker == "stored x"
    with pytest.raises(GroupFailed) as failed_good:
        await good
    with pytest.raises(GroupFailed):
        await bad
    assert isinstance(failed_good.value.__cause__, RuntimeError)
    assert "good" not in writer.committed
    # Alone, as its caller then stores it: the good one is written, the bad one fails itself.
    assert await groups.store("good") == "stored good"
    with pytest.raises(RuntimeError, match="bad cannot be written"):
        await groups.store("bad")
    assert writer.committed == ["x", "good"]


async def test_a_batch_whose_caller_left_before_its_group_began_is_not_written():
    writer = Writer()
    groups = GroupCommit(writer.write)
    blocker = asyncio.create_task(groups.store("x"))
    await settle()
    gone, kept = asyncio.create_task(groups.store("gone")), asyncio.create_task(groups.store("k"))
    await settle()
    gone.cancel()
    writer.gate.set()
    assert await kept == "stored k"
    assert writer.committed == ["x", "k"]
    assert blocker.done()


async def test_groups_are_capped():
    writer = Writer()
    groups = GroupCommit(writer.write, max_group=2)
    blocker = asyncio.create_task(groups.store("x"))
    await settle()
    rest = [asyncio.create_task(groups.store(str(n))) for n in range(5)]
    writer.gate.set()
    await blocker
    await asyncio.gather(*rest)
    assert writer.groups == [["x"], ["0", "1"], ["2", "3"], ["4"]]


async def test_an_interrupted_writer_leaves_nobody_waiting():
    writer = Writer()
    groups = GroupCommit(writer.write)
    running = asyncio.create_task(groups.store("a"))
    await settle()
    queued = asyncio.create_task(groups.store("b"))
    await settle()
    assert groups._writer is not None
    groups._writer.cancel()  # as at shutdown: the transaction of "a" never ends
    for task in (running, queued):
        with pytest.raises(GroupFailed):
            await asyncio.wait_for(task, 5)
    assert writer.committed == []
    writer.gate.set()
    assert await groups.store("c") == "stored c"  # a new writer starts for the next batch
