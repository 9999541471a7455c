"""Render the settings registry as `.env.example` and as the Markdown table of the docs.

`trackmaster settings --env-example` and `--markdown` print them; the test suite
checks that the committed files list every setting.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from trackmaster.settings import SETTINGS, Setting


def _shown_default(setting: Setting) -> str:
    default = setting.default
    if isinstance(default, bool):
        return "true" if default else "false"
    return str(default)


def env_example() -> str:
    lines = [
        "# TrackMaster settings. Copy to .env and change what you need; the environment wins.",
        "# With nothing set, TrackMaster runs on embedded defaults: SQLite under var/, in-process",
        "# scheduler, locks and bus. Every setting is listed here with its default.",
        "",
    ]
    for setting in SETTINGS:
        lines += [f"# {line}" for line in textwrap.wrap(setting.help, 96)]
        lines += [f"{setting.name}={_shown_default(setting)}", ""]
    return "\n".join(lines)


def markdown_table() -> str:
    rows = ["| name | default | what it does |", "| --- | --- | --- |"]
    for setting in SETTINGS:
        default = _shown_default(setting)
        shown = f"`{default}`" if default else "(empty)"
        rows.append(f"| `{setting.name}` | {shown} | {setting.help} |")
    return "\n".join(rows) + "\n"


_START, _END = "<!-- settings:start -->", "<!-- settings:end -->"

SETTINGS_DOC_INTRO = """# Settings

Every setting is read from the environment, then from `.env`, then its default.
A value that does not parse stops start-up with a message naming the setting.
`.env.example` and this table come from one registry (`trackmaster/settings.py`);
`trackmaster settings --write-docs` rewrites them, and a test fails when they drift.

"""


def write_docs(root: Path) -> list[Path]:
    """Rewrite `.env.example`, docs/settings.md and the README's table from the registry."""
    (root / ".env.example").write_text(env_example())
    (root / "docs" / "settings.md").write_text(SETTINGS_DOC_INTRO + markdown_table())
    readme = root / "README.md"
    text = readme.read_text()
    before, _, rest = text.partition(_START)
    _, _, after = rest.partition(_END)
    readme.write_text(f"{before}{_START}\n{markdown_table()}{_END}{after}")
    return [root / ".env.example", root / "docs" / "settings.md", readme]
