"""A story of the plan: its events and fields, expected values shown as names."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from trackmaster.errors import AppError, NotFound
from trackmaster.plan.browse import get_story
from web.api import as_id
from web.templating import render


async def story_page(request: Request) -> Response:
    try:
        story_id = as_id(request.path_params["id"], "story")
    except AppError:
        raise NotFound(f"no story with id {request.path_params['id']!r}") from None
    with_removed = request.query_params.get("removed") == "1"
    story, events = await get_story(story_id, with_removed=with_removed)
    return render(
        request,
        "stories/story.html",
        {"story": story, "project": story.project, "events": events, "with_removed": with_removed},
    )


routes = [Route("/stories/{id}", story_page, methods=["GET"], name="story")]
