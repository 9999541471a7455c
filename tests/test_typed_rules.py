"""Typed rules: each rule's verdict and code, bad rules refused at import, the local overlay."""

from __future__ import annotations

import pytest

from tests.support.realtime import make_plan, play_log
from trackmaster.checks import FieldRule, check_field
from trackmaster.checks.rules import RuleError, merged, parse_rules
from trackmaster.models import EventLog, Field, Project, Verdict
from trackmaster.plan.apply import apply_snapshot
from trackmaster.plan.export import export_plan
from trackmaster.plan.files import PlanFileError, read_plan
from trackmaster.plan.snapshot import PlanEvent, PlanField, PlanSnapshot, PlanStory
from trackmaster.plan.sync import import_plan_file

S, F = Verdict.SUCCESS, Verdict.FAIL


def judge(rules: dict, value: object, found: bool = True, allowed: tuple = ()) -> tuple:
    check = check_field(FieldRule(1, "k", allowed, parse_rules(rules)), found, value)
    return check.verdict, check.code


@pytest.mark.parametrize(
    ("rules", "value", "verdict", "code"),
    [
        ({"type": "string"}, "hello", S, ""),
        ({"type": "string"}, 5, F, "type_mismatch"),
        ({"type": "string"}, None, F, "type_mismatch"),
        ({"type": "string"}, "", F, "empty_value"),
        ({"type": "string", "min_length": 0}, "", S, ""),
        ({"type": "number"}, 3.5, S, ""),
        ({"type": "number"}, 0, S, ""),
        # Booleans are not numbers (in Python True is an int: it must still fail).
        ({"type": "number"}, True, F, "type_mismatch"),
        ({"type": "integer"}, False, F, "type_mismatch"),
        ({"type": "number"}, "3", F, "type_mismatch"),
        ({"type": "integer"}, 3, S, ""),
        ({"type": "integer"}, 3.0, S, ""),  # JSON has one number type
        ({"type": "integer"}, 3.5, F, "type_mismatch"),
        ({"type": "boolean"}, False, S, ""),
        ({"type": "boolean"}, "true", F, "type_mismatch"),
        ({"type": "boolean"}, 1, F, "type_mismatch"),
        ({"type": "object"}, {"a": 1}, S, ""),
        ({"type": "object"}, [1], F, "type_mismatch"),
        ({"type": "array"}, [1], S, ""),
        ({"type": "array"}, {"a": 1}, F, "type_mismatch"),
        # NaN and infinities are refused at ingest; a lenient source's NaN still fails.
        ({"type": "number"}, float("nan"), F, "type_mismatch"),
        ({"min": 0}, float("inf"), F, "type_mismatch"),
        ({"min": 0}, 0, S, ""),
        ({"min": 0}, -0.5, F, "out_of_range"),
        ({"min": 0, "max": 100}, 100, S, ""),
        ({"min": 0, "max": 100}, 100.0001, F, "out_of_range"),
        # Huge numbers compare exactly: no float rounding at 10**30 or 2**63.
        ({"max": 10**18}, 10**30, F, "out_of_range"),
        ({"max": 2**62}, 2**62 + 1, F, "out_of_range"),
        ({"min": 0}, 10**30, S, ""),
        ({"type": "integer", "max": 9007199254740993}, 9007199254740993, S, ""),
        ({"min": 0}, True, F, "type_mismatch"),
        ({"min": 0}, "5", F, "type_mismatch"),
        ({"pattern": "ep-[0-9]+"}, "ep-12", S, ""),
        # Full match: a partial match is a mismatch.
        ({"pattern": "ep-[0-9]+"}, "xep-12", F, "pattern_mismatch"),
        ({"pattern": "ep-[0-9]+"}, "ep-12x", F, "pattern_mismatch"),
        ({"pattern": "ep-[0-9]+"}, 12, F, "type_mismatch"),
        ({"pattern": "\\p{Han}+"}, "播放", S, ""),
        ({"pattern": "caf."}, "café", S, ""),
        ({"pattern": "[a-z]+"}, "\uff21\uff22", F, "pattern_mismatch"),  # full-width A, B
        # Lengths count code points: é, 播, 👍 are one character each.
        ({"max_length": 4}, "café", S, ""),
        ({"max_length": 3}, "café", F, "too_long"),
        ({"min_length": 2}, "👍", F, "too_short"),
        ({"min_length": 2, "max_length": 2}, "播放", S, ""),
        ({"max_length": 2}, "e\u0301e\u0301", F, "too_long"),  # 2 letters, 4 code points
    ],
)
def test_each_rule_gives_its_verdict_and_code(rules, value, verdict, code) -> None:
    assert judge(rules, value) == (verdict, code)


def test_required_and_optional() -> None:
    assert judge({}, None, found=False) == (F, "not_found")
    assert judge({"type": "string"}, None, found=False) == (F, "not_found")
    assert judge({"required": False}, None, found=False) == (S, "")
    assert judge({"required": False, "type": "number"}, "x") == (F, "type_mismatch")
    # Optional with no other rule: a found value is still for a person to look at.
    assert judge({"required": False}, "x")[0] is Verdict.UNCERTAIN


def test_the_type_comes_before_allowed_values() -> None:
    assert judge({"type": "string"}, 1, allowed=("1", "2")) == (F, "type_mismatch")
    assert judge({"type": "string"}, "1", allowed=("1", "2")) == (S, "")
    assert judge({"type": "string"}, "3", allowed=("1", "2")) == (F, "unexpected_value")


def test_a_pattern_that_backtracking_engines_choke_on_runs_in_linear_time() -> None:
    # (a+)+$ on "aaa...!" takes exponential time in Python's re; RE2 has no backtracking.
    rules = {"pattern": "(a+)+"}
    assert judge(rules, "a" * 100_000 + "!") == (F, "pattern_mismatch")
    assert judge(rules, "a" * 100_000) == (S, "")


@pytest.mark.parametrize(
    ("rules", "key", "words"),
    [
        ({"type": "float"}, "type", "must be one of"),
        ({"required": "yes"}, "required", "true or false"),
        ({"pattern": "(a)\\1"}, "pattern", "back-references"),
        ({"pattern": "(?=a)b"}, "pattern", "not a usable"),
        ({"pattern": "[unclosed"}, "pattern", "not a usable"),
        ({"pattern": "a" * 501}, "pattern", "at most 500"),
        ({"pattern": ""}, "pattern", "non-empty"),
        ({"min": True}, "min", "must be a number"),
        ({"min": float("nan")}, "min", "finite"),
        ({"min": 5, "max": 1}, "min", "above max"),
        ({"min_length": -1}, "min_length", "0 or more"),
        ({"min_length": 1.5}, "min_length", "whole number"),
        ({"min_length": 3, "max_length": 2}, "min_length", "above"),
        ({"type": "boolean", "min": 1}, "min", "applies to numbers"),
        ({"type": "number", "pattern": "1"}, "pattern", "applies to strings"),
        ({"colour": "red"}, "colour", "unknown rule"),
    ],
)
def test_bad_rules_are_refused_with_the_rule_named(rules, key, words) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules(rules)
    assert caught.value.key == key and words in str(caught.value)


def test_an_overlay_sits_on_top_and_null_removes_a_plan_rule() -> None:
    assert merged({"type": "string", "pattern": "a+"}, {"pattern": None, "max_length": 3}) == {
        "type": "string",
        "max_length": 3,
    }


# --- plan files -----------------------------------------------------------------------------

PLAN = """\
format: trackmaster-plan/1
stories:
  - name: Checkout
    events:
      - name: purchase_complete
        fields:
          - key: payment.amount
            rules: {type: number, min: 0}
          - key: order.id
            rules:
              pattern: "ord-[0-9]{6}"
          - key: coupon
            rules: {required: false, max_length: 20}
"""


async def test_rules_import_and_export_in_every_format(db) -> None:
    project = await Project.create(name="shop")
    await import_plan_file(project, PLAN.encode(), "plan.yaml")
    stored = dict(await Field.all().values_list("key", "rules"))
    assert stored == {
        "payment.amount": {"type": "number", "min": 0},
        "order.id": {"type": "string", "pattern": "ord-[0-9]{6}"},
        "coupon": {"type": "string", "required": False, "max_length": 20},
    }
    for fmt in ("yaml", "json", "csv"):
        exported = await export_plan(project, fmt)
        again = read_plan(exported, f"plan.{fmt}")
        rules = {f.key: f.rules for f in again.stories[0].events[0].fields}
        assert rules == stored, fmt
    assert "value_type" in (await export_plan(project, "csv")).splitlines()[0]


@pytest.mark.parametrize(
    ("text", "name", "where"),
    [
        (PLAN.replace('"ord-[0-9]{6}"', '"(?<=x)y"'), "plan.yaml", (11, "rules.pattern")),
        (PLAN.replace("min: 0}", "min: zero}"), "plan.yaml", (8, "rules.min")),
        (PLAN.replace("type: number", "type: money"), "plan.yaml", (8, "rules.type")),
        (
            "story,event,field,value_type,min\nS,E,price,number,0\nS,E,tags,array,1\n",
            "plan.csv",
            (3, "min"),
        ),
        ("story,event,field,required\nS,E,a,perhaps\n", "plan.csv", (2, "required")),
    ],
)
async def test_a_bad_rule_is_reported_with_its_line_and_path_and_nothing_changes(
    db, text, name, where
) -> None:
    project = await Project.create(name="shop")
    await import_plan_file(project, PLAN.encode(), "plan.yaml")
    before = sorted(await Field.all().values_list("key", "rules"))
    with pytest.raises(PlanFileError) as caught:
        await import_plan_file(project, text.encode(), name)
    problem = caught.value.details[0]
    line, path = where
    assert problem.get("line", problem.get("row")) == line, problem
    assert problem["path"].endswith(path), problem
    assert sorted(await Field.all().values_list("key", "rules")) == before


async def test_a_sync_without_rules_keeps_the_stored_rules_and_the_local_overlay(db) -> None:
    project = await Project.create(name="jet", jet_id="p1")
    await import_plan_file(project, PLAN.encode(), "plan.yaml")
    field = await Field.get(key="order.id")
    field.local_rules = {"max_length": 10}
    await field.save()
    # A Jet snapshot: the same plan, no rules (rules=None), a changed note.
    snapshot = PlanSnapshot(
        stories=[
            PlanStory(
                "Checkout",
                events=[
                    PlanEvent(
                        "purchase_complete",
                        fields=[
                            PlanField("payment.amount"),
                            PlanField("order.id", note="from Jet"),
                            PlanField("coupon"),
                        ],
                    )
                ],
            )
        ]
    )
    await apply_snapshot(project, snapshot)
    field = await Field.get(key="order.id")
    assert field.note == "from Jet"
    assert field.rules == {"type": "string", "pattern": "ord-[0-9]{6}"}
    assert field.local_rules == {"max_length": 10}


# --- over HTTP ------------------------------------------------------------------------------


async def test_local_rules_over_http_judge_live_events(client) -> None:
    plan = await make_plan()
    field_id = plan.f("page_info.id")
    bad = await client.put(
        f"/api/v3/fields/{field_id}/rules", json={"rules": {"pattern": "(a)\\1"}}
    )
    assert bad.status_code == 400 and "rules.pattern" in bad.json()["msg"], bad.text
    assert (await Field.get(id=field_id)).local_rules == {}
    answer = await client.put(
        f"/api/v3/fields/{field_id}/rules", json={"rules": {"pattern": "[0-9a-f]{4}"}}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["rulesInForce"] == {"pattern": "[0-9a-f]{4}"}
    started = await client.post(
        "/api/v3/realTime/start",
        json={"project": plan.project.id, "accounts": [plan.alice.id], "events": [plan.play.id]},
    )
    assert started.status_code == 201, started.text
    logs = [
        play_log(user_id="alice-42", page_info={"id": "63a1"}),
        play_log(user_id="alice-42", page_info={"id": "not-hex"}),
    ]
    sent = await client.post("/collect", json=logs, headers={"X-Write-Key": plan.project.write_key})
    assert sent.status_code == 200 and sent.json()["stored"] == 2, sent.text
    verdicts = [log.verdicts[str(field_id)] for log in await EventLog.all().order_by("id")]
    assert verdicts[0][0] == "SUCCESS" and verdicts[1][0] == "FAIL"
    assert "does not match" in verdicts[1][1]
    # The caught event's fields carry the code and the JSON path of the value.
    logs = await client.get("/api/v3/realTime/getLog", params={"record": started.json()["id"]})
    assert logs.status_code == 200, logs.text
    fields = [f for log in logs.json()["data"] for f in log["fields"] if f["id"] == field_id]
    assert sorted((f["code"], f["path"]) for f in fields) == [
        ("", "$.page_info.id"),
        ("pattern_mismatch", "$.page_info.id"),
    ]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_nan_and_infinity_are_refused_at_ingest(client, constant) -> None:
    plan = await make_plan()
    body = '[{"event": "play_click", "userId": "alice-42", "properties": {"x": ' + constant + "}}]"
    answer = await client.post(
        "/collect",
        content=body,
        headers={"X-Write-Key": plan.project.write_key, "Content-Type": "application/json"},
    )
    assert answer.status_code == 400, answer.text
    assert constant.lstrip("-") in answer.json()["msg"]
    assert await EventLog.all().count() == 0
