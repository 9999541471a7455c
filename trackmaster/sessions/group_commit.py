"""Group commit: batches that wait for the database while a transaction runs go in the next one.

Every batch of caught events used to pay a transaction of its own: the
session's revision bump, the upserts of the same few dozen results cells, the
commit (an fsync). Under load several batches are ready while one transaction
runs; here they wait for it to end and are then written together, in one
transaction (the caller's `write`), so those costs are paid once per group.

What each caller is promised is unchanged:

- `store` returns only after the transaction holding its batch committed
  (the endpoint's "answer only after commit").
- A group whose transaction fails takes nobody down with it: each of its
  batches gets `GroupFailed` and is stored again alone by its caller, as it
  would have been without grouping (so a bad batch fails alone, with its own
  error, and the others are stored). A group of one gets the real error.
- A batch whose transaction committed is never sent back to be stored again:
  `write` returns as soon as its transaction committed, and from then on each
  caller gets its result whatever interrupts the writer (a cancellation during
  `after`, the publishing to live pages, included). `GroupFailed` therefore
  always means the batch's transaction did not commit.
- A batch whose caller stopped waiting (cancelled) before its group began is
  not written; one whose group had begun is written with it, and its caller
  (gone) gets no answer. The cancelled caller never stores it itself (a
  cancellation is not `GroupFailed`): it is stored once; only its client's
  resend could bring it again, and that is de-duplicated by message id.

One transaction runs at a time per GroupCommit: batches queue in order of
arrival and groups are taken in that order, so commit order is arrival order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Batches in one transaction at most (the ingest pool runs WORKERS at once, 16 by default).
MAX_GROUP = 16


class GroupFailed(Exception):
    """The transaction of a group did not commit: nothing of it was stored."""


class GroupCommit(Generic[T, R]):
    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        max_group: int = MAX_GROUP,
        *,
        after: Callable[[Sequence[T], Sequence[R]], Awaitable[None]] | None = None,
    ) -> None:
        """`write(items)` runs one transaction and returns the items' results once it
        committed; `after(items, results)` is what follows a commit (telling live
        pages), run before the callers are answered and allowed to be cut short."""
        self._write = write
        self._after = after
        self.max_group = max_group
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None
        self.groups = 0  # transactions committed, and batches in them (for tests and figures)
        self.batches = 0
        self.split = 0  # groups of several batches that failed and were sent back one by one

    async def store(self, item: T) -> R:
        """Write `item` with whatever else waits; returns its result after the commit."""
        done: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name="ingest-group-commit")
        return await done

    async def _drain(self) -> None:
        try:
            while self._waiting:
                group = self._waiting[: self.max_group]
                del self._waiting[: self.max_group]
                group = [(item, done) for item, done in group if not done.done()]
                if group:
                    await self._run(group)
        except asyncio.CancelledError:
            # Shutting down: those still waiting are stored alone by their callers, if
            # they are still running themselves.
            for _, done in self._waiting:
                if not done.done():
                    done.set_exception(GroupFailed("group commit stopped"))
            self._waiting.clear()
            raise
        finally:
            self._writer = None

    async def _run(self, group: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._write([item for item, _ in group])
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            # Nobody may wait forever: each caller still running stores its batch alone.
            for _, done in group:
                if not done.done():
                    done.set_exception(GroupFailed("the group's transaction was interrupted"))
            raise
        except Exception as exc:
            if len(group) > 1:
                self.split += 1
            for _, done in group:
                if done.done():
                    continue
                if len(group) == 1:
                    done.set_exception(exc)
                else:
                    failed = GroupFailed(f"a group of {len(group)} batches failed: {exc!r}")
                    failed.__cause__ = exc
                    done.set_exception(failed)
            return
        # Committed. Nothing awaits between the commit and this `try`, so no
        # cancellation lands there, and the `finally` (which awaits nothing) answers
        # every caller with its result even when `after` is interrupted: a committed
        # batch must never come back as GroupFailed and be stored a second time.
        try:
            if self._after is not None:
                await self._after([item for item, _ in group], results)
        except Exception:
            log.exception("group commit: after the commit of %d batches", len(group))
        finally:
            self.groups += 1
            self.batches += len(group)
            for (_, done), result in zip(group, results, strict=True):
                if not done.done():
                    done.set_result(result)
