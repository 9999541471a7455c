"""`/api/v2`: the original TrackMaster's API, exactly as its clients knew it.

A thin layer over the same core functions as `/api/v3` (web/api/*.py): each
endpoint reads the original's parameters and string ids, calls the core, and
writes the answer in the original's shapes and error codes (`_base`, `shapes`).
docs/api.md has the contract table and the cases where the original was broken.
"""

from __future__ import annotations

from web.api.v2 import openapi, plan, realtime, schedules

routes = [*plan.routes, *realtime.routes, *schedules.routes, *openapi.routes]
