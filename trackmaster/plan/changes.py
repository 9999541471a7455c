"""Tell this process's caches that a project's plan changed.

A sync or import that changed the plan calls `plan_changed` after its commit;
caches of the plan (the live sessions' rules) listen with `on_plan_change`.
Listeners are held weakly, so a cache that is gone (a closed app, a finished
test) drops out without unsubscribing. Other processes see the change when
their caches expire (a couple of seconds).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable

log = logging.getLogger(__name__)

_listeners: list[weakref.WeakMethod[Callable[[int], object]]] = []


def on_plan_change(listener: Callable[[int], object]) -> None:
    """Call the bound method `listener(project_id)` after each plan change in this process."""
    _listeners.append(weakref.WeakMethod(listener))


def plan_changed(project_id: int) -> int:
    """Notify the live listeners; returns how many were told."""
    told = 0
    for ref in list(_listeners):
        listener = ref()
        if listener is None:
            _listeners.remove(ref)
            continue
        try:
            listener(project_id)
            told += 1
        except Exception:
            log.exception("a plan-change listener failed for project %s", project_id)
    return told
