"""Findings: what lint says about a flow file, each at the line and column of the key or value at fault.

Every stage of the pipeline (:mod:`.loader`, :mod:`.build`, :mod:`.graph`, :mod:`.lint`) reports
into a :class:`Report`, which turns a path in the YAML tree into a position only when there is
something to say.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass

from .loader import Positions


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a flow file, at the line and column of the key or value at fault."""

    path: str
    line: int
    col: int
    severity: str  # "error" | "warning"
    message: str
    rule: str
    hint: str = ""

    def __str__(self) -> str:
        hint = f"; {self.hint}" if self.hint else ""
        return f"{self.path}:{self.line}:{self.col}: {self.severity}: {self.message}{hint} [{self.rule}]"

    def to_dict(self) -> dict:
        """The finding as plain data, for ``--format json``."""
        return asdict(self)


class Report:
    """Collects the findings of one file."""

    def __init__(self, path: str, positions: Positions):
        self.path = path
        self.positions = positions
        self.findings: list[Finding] = []

    def add(self, severity, loc, message, rule, *, key=True, hint=""):
        pos = self.positions.key(loc) if key else self.positions.value(loc)
        self.findings.append(Finding(self.path, pos.line, pos.col, severity, message, rule, hint))

    def error(self, loc, message, rule, **kw):
        self.add("error", loc, message, rule, **kw)

    def warning(self, loc, message, rule, **kw):
        self.add("warning", loc, message, rule, **kw)

    @property
    def has_errors(self) -> bool:
        return any(f.severity == "error" for f in self.findings)


def did_you_mean(word, candidates) -> str:
    """A "did you mean 'x'?" hint for the candidate closest to `word`, or ''."""
    if not isinstance(word, str):
        return ""
    matches = difflib.get_close_matches(word, [c for c in candidates if isinstance(c, str)], n=1, cutoff=0.6)
    return f"did you mean {matches[0]!r}?" if matches else ""



def findings_json(findings) -> str:
    """Findings as a JSON document: a list of objects with path, line, col, severity, message, rule, hint."""
    return json.dumps([f.to_dict() for f in findings], indent=2)
