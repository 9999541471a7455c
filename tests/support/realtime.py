"""A small plan and accounts for realtime tests: one project, two stories, three events."""

from __future__ import annotations

from dataclasses import dataclass, field

from trackmaster.models import Account, Event, Field, Project, Story


@dataclass
class Plan:
    project: Project
    play: Event
    search: Event
    share: Event
    fields: dict[str, Field] = field(default_factory=dict)
    alice: Account | None = None
    bob: Account | None = None
    player_story: Story | None = None
    search_story: Story | None = None

    def f(self, key: str) -> int:
        return self.fields[key].id


async def make_plan(name: str = "video", jet_id: str | None = None) -> Plan:
    project = await Project.create(name=name, jet_id=jet_id)
    player = await Story.create(project=project, name="Player")
    search_story = await Story.create(project=project, name="Search")
    play = await Event.create(story=player, name="play_click")
    share = await Event.create(story=player, name="share_click")
    search = await Event.create(story=search_story, name="search_submit")
    plan = Plan(project, play, search, share, player_story=player, search_story=search_story)
    for event, key, values in (
        (play, "event_info.current_page_name", ["home", "player"]),
        (play, "content_info.type", ["EPISODE"]),
        (play, "page_info.id", []),
        (search, "search.keyword", []),
        (share, "share.channel", ["wechat", "weibo", "link"]),
    ):
        plan.fields[key] = await Field.create(
            event=event, key=key, values=values, raw_values=values
        )
    plan.alice = await Account.create(project=project, user_id="alice-42", description="Alice")
    plan.bob = await Account.create(project=project, user_id="bob-7", description="Bob")
    return plan


def play_log(page: str = "home", kind: str = "EPISODE", os: str = "iOS", **extra) -> dict:
    """A raw app log of play_click, as Jet or /collect carries it."""
    log = {
        "$os": os,
        "event_info": {"event": "play_click", "current_page_name": page},
        "content_info": {"type": kind},
        "page_info": {"id": "63a1"},
    }
    log.update(extra)
    return log
