"""CSV downloads of the staff flows tables, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

from flask import Response

#: A text cell starting with one of these is a formula to a spreadsheet (=HYPERLINK(...), +cmd, @SUM).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def cell(value) -> object:
    """A value as a CSV cell: numbers as they are, text that a spreadsheet would run quoted with '."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def share(part: int, whole: int) -> str:
    """A share as a percentage with one decimal ('' when there is nothing to divide by)."""
    return f"{100 * part / whole:.1f}" if whole else ""


def csv_response(filename: str, header: list, rows) -> Response:
    """A CSV download: UTF-8 with a byte-order mark (so spreadsheets read the accents), a header row first."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return Response(out.getvalue(), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})
