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


async def test_a_group_cancelled_after_its_commit_is_not_told_to_store_again() -> None:
    # From the review: GroupFailed means "nothing of it was stored", and ingest stores such
    # a batch again alone. A writer cancelled after the commit, while it tells live pages
    # (`after`), must answer its callers with their results.
    committed: list[str] = []
    publishing = asyncio.Event()

    async def write(items: Sequence[str]) -> list[str]:
        committed.extend(items)  # the transaction committed
        return [f"stored {x}" for x in items]

    async def after(items: Sequence[str], results: Sequence[str]) -> None:
        publishing.set()
        await asyncio.sleep(10)  # publish_safely(...) after the commit

    groups = GroupCommit(write, after=after)
    caller = asyncio.create_task(groups.store("a"))
    await publishing.wait()
    queued = asyncio.create_task(groups.store("b"))  # waits for the next transaction
    await settle()
    assert groups._writer is not None
    groups._writer.cancel()
    outcome = await asyncio.gather(caller, queued, return_exceptions=True)
    assert committed == ["a"]
    assert outcome[0] == "stored a", "a committed batch was sent back to be stored again"
    assert isinstance(outcome[1], GroupFailed)  # never written: its caller stores it alone
    assert (groups.groups, groups.batches) == (1, 1)


async def test_a_failing_after_does_not_undo_the_commit_nor_stop_the_queue() -> None:
    async def write(items: Sequence[str]) -> list[str]:
        return [f"stored {x}" for x in items]

    async def after(items: Sequence[str], results: Sequence[str]) -> None:
        raise RuntimeError("the bus is down")

    groups = GroupCommit(write, after=after)
    assert await asyncio.gather(groups.store("a"), groups.store("b")) == ["stored a", "stored b"]
    assert await groups.store("c") == "stored c"


async def test_a_caller_cancelled_after_its_group_began_has_it_stored_once() -> None:
    # Its group is written with it; the caller gets CancelledError, not GroupFailed, so
    # nothing ever stores it a second time.
    writer = Writer()
    groups = GroupCommit(writer.write)
    gone = asyncio.create_task(groups.store("gone"))
    await settle()
    assert writer.groups == [["gone"]]  # its transaction is running
    gone.cancel()
    await settle()
    assert groups._writer is not None  # the transaction goes on without its caller
    writer.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await groups.store("next") == "stored next"
    assert writer.committed == ["gone", "next"]
    assert writer.groups == [["gone"], ["next"]]
