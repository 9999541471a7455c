"""Tell this process's caches that a project's plan changed.

One `PlanChanges` per process, made by `Runtime.open` (trackmaster/runtime.py): the
live index of the process's Realtime listens to it, and a sync or import that changed
the plan calls `changed(project_id)` after its commit, so live sessions judge by the
new plan at once. A process without live sessions (the CLI, the consumer) passes
None: nothing of its own caches the plan. Other processes see the change when
their caches expire (a couple of seconds).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class PlanChanges:
    def __init__(self) -> None:
        self._listeners: list[Callable[[int], object]] = []

    def listen(self, listener: Callable[[int], object]) -> None:
        """Call `listener(project_id)` after each plan change in this process."""
        self._listeners.append(listener)

    def changed(self, project_id: int) -> int:
        """Tell the listeners; returns how many were told."""
        told = 0
        for listener in self._listeners:
            try:
                listener(project_id)
                told += 1
            except Exception:
                log.exception("a plan-change listener failed for project %s", project_id)
        return told


def tell(changes: PlanChanges | None, project_id: int) -> None:
    """`changes.changed(project_id)` when the process has live caches to tell."""
    if changes is not None:
        changes.changed(project_id)
