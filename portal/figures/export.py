"""CSV downloads of figure tables, safe to open in a spreadsheet (formula injection neutralised)."""

from __future__ import annotations

import csv
import io

from flask import Response

#: A text cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...), +cmd, @SUM).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def cell(value) -> object:
    """A value as a CSV cell: numbers as they are, text that a spreadsheet would run prefixed with '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def percent(share: float | None) -> str:
    """A share (0..1) as a percentage with one decimal; '' when there was nothing to divide."""
    return "" if share is None else f"{100 * share:.1f}"


def share(part: int, whole: int) -> str:
    """part ÷ whole as a percentage with one decimal; '' when there is nothing to divide by."""
    return f"{100 * part / whole:.1f}" if whole else ""


def csv_text(header: list, rows) -> str:
    """The table as CSV text: a UTF-8 byte-order mark (spreadsheets then read accents), the header, the rows."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def csv_response(filename: str, header: list, rows) -> Response:
    """A CSV download of the table."""
    return Response(csv_text(header, rows), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
