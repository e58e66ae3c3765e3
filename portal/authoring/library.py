"""What the staff flows pages say about the flow files: lint state, version, source, tests.

Reads the app's flow registry only (no database): each file as the registry last checked it,
the version it serves (the file itself, or the last good version when the file has errors), and
the findings that go with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from ..flows.registry import LIVE, status_of
from ..flows.testing import coverage, run_tests
from ..flows_runtime import registry

OK, WARNINGS, TEST_ERRORS, STALE, UNPUBLISHED = "ok", "warnings", "test-errors", "stale", "unpublished"
STATE_LABELS = {
    OK: "OK",
    WARNINGS: "Warnings",
    TEST_ERRORS: "Published; errors in its tests",
    STALE: "Serving the last good version",
    UNPUBLISHED: "Not published: errors",
}
_ORDER = {UNPUBLISHED: 0, STALE: 1, TEST_ERRORS: 2, WARNINGS: 3, OK: 4}


@dataclass
class FlowFile:
    """One flow file as the registry checked it, and the version of its flow that is served."""

    path: str
    flow_id: str | None  # the id the file declares (None when it cannot be read that far)
    title: str
    state: str
    findings: list
    served: object | None  # the Flow served for this file (its own text, or the last good version)
    file_hash: str
    modified_at: datetime | None
    linked: bool = True  # False: a left-out copy whose id another file serves (its page is the other's)
    source: str | None = None  # the file's text as checked, when known
    status: str = "live"
    errors: int = 0
    warnings: int = 0

    @property
    def state_label(self) -> str:
        if self.state == WARNINGS:
            return f"{self.warnings} warning" + ("" if self.warnings == 1 else "s")
        return STATE_LABELS[self.state]

    @property
    def version(self) -> str:
        """The short hash of the version served ('' when nothing is)."""
        return self.served.hash[:12] if self.served is not None else ""

    @property
    def sort_key(self) -> tuple:
        return (_ORDER[self.state], self.title.lower(), self.path)


def _shown_path(path: str, directory: Path) -> str:
    """A file's path as staff read it: from the flows directory's name ("flows/wifi.yaml"), not the server's cwd."""
    try:
        return os.path.relpath(Path(path).resolve(), directory.resolve().parent)
    except ValueError:  # pragma: no cover - another drive on Windows
        return path


def _file(state, served_ids: set, directory: Path) -> FlowFile:
    own = state.checked.flow
    shown_path = _shown_path(state.path, directory)
    shown = state.flow or own
    flow_id = shown.id if shown is not None else None
    errors = len(state.errors)
    warnings = len(state.warnings)
    if state.flow is None:
        kind = UNPUBLISHED
    elif state.stale:
        kind = STALE
    elif errors:
        kind = TEST_ERRORS
    else:
        kind = WARNINGS if warnings else OK
    linked = flow_id is not None and (state.flow is not None or flow_id not in served_ids)
    return FlowFile(
        path=shown_path, flow_id=flow_id, title=shown.title if shown is not None else Path(state.path).name,
        state=kind, findings=[replace(f, path=shown_path) for f in state.findings], served=state.flow,
        file_hash=state.hash,
        modified_at=datetime.fromtimestamp(state.mtime, UTC) if state.mtime else None, linked=linked,
        source=own.source if state.current and own is not None else None,
        status=status_of(shown) if shown is not None else LIVE, errors=errors, warnings=warnings)


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def flow_files() -> list:
    """Every file of the library, broken ones first, then by title."""
    reg = registry()
    served = set(reg.served)
    return sorted((_file(state, served, reg.directory) for state in reg.files), key=lambda f: f.sort_key)


def flow_file(flow_id: str) -> FlowFile | None:
    """The file of flow `flow_id`: the one serving it, else a left-out file declaring it; or None."""
    reg = registry()
    served = set(reg.served)
    state = reg.file_of(flow_id) or next(
        (s for s in reg.files if s.checked.flow is not None and s.checked.flow.id == flow_id), None)
    if state is None:
        return None
    found = _file(state, served, reg.directory)
    if found.source is None:
        found.source = _read(state.path)
    return found


@dataclass(frozen=True)
class TestRow:
    """One author's test of a flow, its result, the ends it reached and the path it walked."""

    __test__ = False

    name: str
    line: int
    passed: bool
    failure: str | None
    ends: tuple  # (flow id, step id) reached
    walked: tuple  # the steps passed, as "step \"answer\"" (testing.run_test)


def flow_tests(flow) -> tuple:
    """(rows, coverage) for `flow`'s own tests, run through the engine; coverage lists the ends, options
    and branch cases no test takes (:func:`portal.flows.testing.coverage`)."""
    lookup = dict(registry().served)
    lookup[flow.id] = flow
    results, _uncovered = run_tests({flow.id: flow}, lookup=lookup)
    rows = [TestRow(r.test.name, flow.where(r.test.path).line, r.passed, r.failure, tuple(sorted(r.reached)),
                    tuple(r.walked)) for r in results]
    return rows, coverage(flow, results)


def missed_line(flow, path: tuple) -> int:
    """The line of a missed end, option or case, for its link to the source."""
    return flow.where(path).line


def source_lines(text: str | None) -> list:
    """The file's lines, numbered from 1, for the source listing."""
    if not text:
        return []
    return list(enumerate(text.splitlines(), start=1))
