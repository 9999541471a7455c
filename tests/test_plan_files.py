"""Plan files: the example imports, exports round-trip, and every error names its line or row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trackmaster.db import Database
from trackmaster.models import EnumType, Field, Project, Story, SyncRun
from trackmaster.plan.export import export_plan
from trackmaster.plan.files import PlanFileError, read_plan
from trackmaster.plan.sync import import_plan_file

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def problems_of(content: str, filename: str) -> list[dict]:
    with pytest.raises(PlanFileError) as raised:
        read_plan(content, filename)
    return raised.value.details


@pytest.mark.parametrize("name", ["plan.yaml", "plan.json", "plan.csv"])
def test_the_examples_are_valid_plans(name: str) -> None:
    snapshot = read_plan((EXAMPLES / name).read_bytes(), name)
    assert snapshot.count()["story"] == 2 and snapshot.count()["field"] == 10


def test_yaml_errors_name_the_line_and_the_entry() -> None:
    text = (
        "stories:\n"  # 1
        "  - name: Playback\n"  # 2
        "    events:\n"  # 3
        "      - name: play\n"  # 4
        "        feilds: []\n"  # 5
        "      - description: no name\n"  # 6
        "      - name: [1, 2]\n"  # 7
        f"  - name: {'x' * 300}\n"  # 8
    )
    problems = problems_of(text, "plan.yaml")
    assert {(p["line"], p["path"]) for p in problems} == {
        (5, "stories[0].events[0].feilds"),
        (6, "stories[0].events[1].name"),
        (7, "stories[0].events[2].name"),
        (8, "stories[1].name"),
    }
    assert any("at most 255" in p["error"] for p in problems)


def test_syntax_errors_name_the_line() -> None:
    yaml_problem = problems_of("stories:\n  - name: a\n   bad: [\n", "plan.yml")[0]
    assert yaml_problem["line"] == 3
    with pytest.raises(PlanFileError, match=r"plan.json line 3: not valid JSON"):
        read_plan('{"stories": [\n  {"name": "a"},\n  ]\n}', "plan.json")


def test_json_structure_errors_name_the_line() -> None:
    text = json.dumps(
        {"stories": [{"name": "a", "events": [{"name": "e", "fields": "x"}]}]}, indent=1
    )
    [problem] = problems_of(text, "plan.json")
    assert problem["path"] == "stories[0].events[0].fields"
    assert "must be a list" in problem["error"]
    assert text.splitlines()[problem["line"] - 1].strip().startswith('"fields"')


def test_csv_errors_name_the_row() -> None:
    header = "story,story_description,event,event_description,field,type,values,note\n"
    problems = problems_of(header + "S,,e,,k,,,\n,,e,,k,,,\nS,,,,orphan,,,\n", "plan.csv")
    assert [(p["row"], p["path"]) for p in problems] == [(3, "story"), (4, "event")]
    [bad_header] = problems_of("story,evnt\n", "plan.csv")
    assert bad_header["row"] == 1 and "columns must be" in bad_header["error"]


def test_ambiguous_and_unknown_formats_are_refused() -> None:
    problems = problems_of("stories:\n  - name: a\n  - name: a\n", "plan.yaml")
    # The repeat names the line of its second copy.
    assert problems == [{"error": "story 'a' appears twice", "line": 3}]
    with pytest.raises(PlanFileError, match=r"name the file \.yaml, \.json or \.csv"):
        read_plan("stories: []", "plan.txt")
    with pytest.raises(PlanFileError, match="not UTF-8"):
        read_plan(b"stories: [\xff]", "plan.yaml")
    with pytest.raises(PlanFileError, match="must be 'trackmaster-plan/1'"):
        read_plan("format: other/2\nstories: []\n", "plan.yaml")


async def test_import_then_export_round_trips_in_every_format(db: Database) -> None:
    project = await Project.create(name="Demo")
    first = await import_plan_file(project, (EXAMPLES / "plan.yaml").read_bytes(), "plan.yaml")
    assert first.status == "ok" and first.source == "file"
    quality = await Field.get(key="player.quality")
    assert quality.values == ["hd", "sd", "auto"] and quality.raw_values == ["hd|sd|auto"]
    assert (await Field.get(key="share.url")).values == ["https://example.com/watch"]
    page = await Field.get(key="event_info.current_page_name", event__name="play_click")
    assert page.enum_type_id == (await EnumType.get(name="page_name")).id
    for fmt in ("yaml", "json"):
        exported = await export_plan(project, fmt)
        again = await import_plan_file(project, exported.encode(), f"plan.{fmt}")
        assert again.diff["created"] == again.diff["updated"] == again.diff["removed"] == {}, fmt
    csv_text = await export_plan(project, "csv")
    await import_plan_file(project, csv_text.encode(), "plan.csv")
    # CSV has no enum types: the project keeps its own, and fields keep their types.
    assert await EnumType.filter(project=project).count() == 2
    assert (await Field.get(id=page.id)).enum_type_id == page.enum_type_id
    # A second CSV import of the same file changes nothing.
    same = await import_plan_file(project, csv_text.encode(), "plan.csv")
    assert same.diff["updated"] == {} and same.diff["removed"] == {}


async def test_a_bad_file_changes_nothing(db: Database) -> None:
    project = await Project.create(name="Demo")
    await import_plan_file(project, (EXAMPLES / "plan.yaml").read_bytes(), "plan.yaml")
    runs = await SyncRun.all().count()
    names = await Story.all().values_list("name", flat=True)
    with pytest.raises(PlanFileError):
        await import_plan_file(
            project, b"stories:\n  - name: New\n  - description: x\n", "plan.yaml"
        )
    assert await SyncRun.all().count() == runs
    assert await Story.all().values_list("name", flat=True) == names


async def test_stories_that_leave_the_file_are_removed_and_come_back(db: Database) -> None:
    project = await Project.create(name="Demo")
    both = "stories:\n  - name: A\n    events: [{name: a}]\n  - name: B\n"
    await import_plan_file(project, both.encode(), "plan.yaml")
    only_b = await import_plan_file(project, b"stories:\n  - name: B\n", "plan.yaml")
    assert only_b.diff["removed"] == {"story": 1, "event": 1}
    assert (await Story.get(name="A")).removed_at is not None
    back = await import_plan_file(project, both.encode(), "plan.yaml")
    assert back.diff["created"] == {"story": 1, "event": 1}
    assert {item["action"] for item in back.diff["items"]} == {"restored"}
    assert (await Story.get(name="A")).removed_at is None


async def test_entries_with_and_without_ids_mix_in_one_file(db: Database) -> None:
    project = await Project.create(name="Demo")
    text = (
        "stories:\n"
        "  - name: A\n"
        "    id: s-1\n"
        "    events:\n"
        "      - {name: with_id, id: e-1, fields: [{key: k, id: f-1}, {key: j}]}\n"
        "      - {name: without_id, fields: [{key: k}]}\n"
    )
    run = await import_plan_file(project, text.encode(), "plan.yaml")
    assert run.status == "ok", run.error
    assert run.diff["created"] == {"story": 1, "event": 2, "field": 3}
    jet_ids = await Field.all().order_by("id").values_list("jet_id", flat=True)
    assert jet_ids == ["f-1", None, None]
    again = await import_plan_file(project, text.encode(), "plan.yaml")
    assert again.diff["created"] == again.diff["updated"] == {}
