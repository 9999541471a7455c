"""The report as JUnit XML, written piece by piece, for CI servers.

    <testsuites>                      the session
      <testsuite name=EVENT>          one per watched event
        <testcase name="caught">      fails when the event was never caught
        <testcase name=PLATFORM>      iOS, Android, Other: one <failure> per failing field,
                                      <skipped> when nothing of that platform was caught

Text from payloads and plans is untrusted: it is escaped, and characters XML
1.0 cannot hold at all (control characters, lone surrogates) are written as
`\\uXXXX`, so a hostile value can neither break the file nor make it invalid.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from xml.sax.saxutils import escape, quoteattr

from trackmaster.models import PLATFORMS
from trackmaster.reports.model import Report, ReportCell, ReportEvent

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# A failure's text is cut here: a CI page shows it, the report page has the rest.
MAX_DETAIL_CHARS = 4000


def xml_text(value: object) -> str:
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", str(value))


def _attr(value: object) -> str:
    return quoteattr(xml_text(value), {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"})


def _body(value: object) -> str:
    return escape(xml_text(value))


def _failure_text(cell: ReportCell) -> str:
    lines = [f"{cell.key} on {cell.platform}: {cell.verdict} ({cell.reason})"]
    if cell.source in ("override", "reset"):
        lines.append(
            f"set by {cell.by or 'someone'}"
            + (f" at {cell.at:%Y-%m-%d %H:%M:%S}" if cell.at else "")
        )
    for wrong in cell.wrong:
        lines.append(f"- got {wrong.value} in {wrong.count} event(s): {wrong.reason}")
        lines.append(f"  example (caught event {wrong.example_log_id}): {wrong.example_payload}")
    if cell.wrong_more:
        lines.append(f"- and {cell.wrong_more} more distinct wrong value(s)")
    return "\n".join(lines)[:MAX_DETAIL_CHARS]


def _case_state(report: Report, event: ReportEvent, platform: str) -> tuple[list[ReportCell], bool]:
    cells = report.cells_of(event.id, platform)
    failing = [c for c in cells if c.failed]
    skipped = not failing and event.caught_by_platform.get(platform, 0) == 0
    return failing, skipped


def junit_chunks(report: Report) -> Iterator[str]:
    """The XML document, one test case at a time."""
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    per_event = []
    for event in report.events:
        states = {p: _case_state(report, event, p) for p in PLATFORMS}
        failures = sum(1 for failing, _ in states.values() if failing) + (0 if event.seen else 1)
        skipped = sum(1 for _, skip in states.values() if skip)
        per_event.append((event, states, failures, skipped))
        totals["tests"] += len(PLATFORMS) + 1
        totals["failures"] += failures
        totals["skipped"] += skipped
    name = f"TrackMaster session {report.session_id}" + (
        f" ({report.session_name})" if report.session_name else ""
    )
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield (
        f'<testsuites name={_attr(name)} tests="{totals["tests"]}" '
        f'failures="{totals["failures"]}" errors="0" skipped="{totals["skipped"]}">\n'
    )
    stamp = report.generated_at.strftime("%Y-%m-%dT%H:%M:%S")
    for event, states, failures, skipped in per_event:
        classname = f"{report.project}.{event.name}"
        yield (
            f'  <testsuite name={_attr(event.name)} tests="{len(PLATFORMS) + 1}" '
            f'failures="{failures}" errors="0" skipped="{skipped}" '
            f'timestamp="{stamp}">\n'
        )
        yield "    <properties>\n"
        for key, value in (
            ("session", report.session_id), ("project", report.project),
            ("verdict", report.verdict), ("story", event.story), ("caught", event.caught),
        ):  # fmt: skip
            yield f"      <property name={_attr(key)} value={_attr(value)}/>\n"
        yield "    </properties>\n"
        yield f'    <testcase classname={_attr(classname)} name="caught">'
        if not event.seen:
            message = f"{event.name} was never caught in session {report.session_id}"
            yield f'<failure type="not_seen" message={_attr(message)}/>'
        yield "</testcase>\n"
        for platform in PLATFORMS:
            failing, skip = states[platform]
            yield f"    <testcase classname={_attr(classname)} name={_attr(platform)}>\n"
            for cell in failing:
                message = f"{cell.key}: {cell.reason}"
                yield (
                    f"      <failure type={_attr(cell.verdict)} message={_attr(message)}>"
                    f"{_body(_failure_text(cell))}</failure>\n"
                )
            if skip:
                yield f"      <skipped message={_attr(f'no {platform} event caught')}/>\n"
            review = [c for c in report.cells_of(event.id, platform) if c.verdict == "UNCERTAIN"]
            notes = [f"UNCERTAIN {c.key}: {c.reason}" for c in review]
            notes += [
                f"unplanned property {u.key} ({u.path or '$'}) in {u.count} event(s)"
                + (f" (did you mean {u.suggestion}?)" if u.suggestion else "")
                for u in report.unplanned
                if u.event == event.name and u.platform == platform
            ]
            if notes:
                yield f"      <system-out>{_body(chr(10).join(notes))}</system-out>\n"
            yield "    </testcase>\n"
        yield "  </testsuite>\n"
    yield "</testsuites>\n"
